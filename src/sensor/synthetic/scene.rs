//! Synthetic scenes: a room (floor, four walls, ceiling) holding objects made
//! of primitives, with exact per-object groundtruth.
//!
//! World frame: z up, the floor is `z = 0`, the room spans
//! `[0, Lx] × [0, Ly] × [0, Lz]`. Structure (floor, walls, ceiling) is built
//! from 0.2 m slabs *outside* that volume so the inner faces are exact planes.
//! Every object frame is centred on the object's bounding box, so
//! `dimensions_m` are the box extents and the object's bottom is at
//! `z = -dimensions_m.z / 2` in its frame.

use std::path::Path;

use nalgebra::{Isometry3, Matrix3, Point3, Translation3, Vector3};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sensor::synthetic::primitives::{Part, Shape};
use crate::sensor::synthetic::texture::Texture;

/// Instance id meaning "no object" in instance masks.
pub const NO_INSTANCE: u32 = 0;
/// Instance id of the floor.
pub const FLOOR_ID: u32 = 1;
/// Instance id of the ceiling.
pub const CEILING_ID: u32 = 2;
/// Instance ids of the walls at `x = 0`, `x = Lx`, `y = 0`, `y = Ly`.
pub const WALL_IDS: [u32; 4] = [3, 4, 5, 6];

/// Thickness of the structure slabs, metres.
const SLAB_M: f64 = 0.2;

/// A material: name, density and the fraction of the primitives' volume it
/// fills (1 = solid; < 1 = a closed hollow shell, e.g. a cardboard box).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Material {
    /// Name, e.g. `"oak"`.
    pub name: String,
    /// Density of the material, kg/m³.
    pub density_kg_m3: f64,
    /// Fraction of the enclosed volume that is material, 0..=1.
    pub fill_fraction: f64,
}

impl Material {
    /// A material.
    pub fn new(name: &str, density_kg_m3: f64, fill_fraction: f64) -> Self {
        Self {
            name: name.to_owned(),
            density_kg_m3,
            fill_fraction,
        }
    }
}

/// Groundtruth of one object, as written to `objects.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectGroundtruth {
    /// Unique instance id (never [`NO_INSTANCE`]); the value in instance masks.
    pub instance_id: u32,
    /// Class: `table chair box shelf mug bottle floor wall ceiling`.
    pub class: String,
    /// Object pose; the object frame is centred on its bounding box.
    pub world_from_object: Isometry3<f64>,
    /// Bounding box extents in the object frame, metres.
    pub dimensions_m: Vector3<f64>,
    /// Material name.
    pub material: String,
    /// Material density, kg/m³.
    pub density_kg_m3: f64,
    /// Fraction of the primitives' volume filled with material (1 = solid).
    pub fill_fraction: f64,
    /// Exact volume enclosed by the primitives, m³.
    pub volume_m3: f64,
    /// `density_kg_m3 · fill_fraction · volume_m3`, kg.
    pub mass_kg: f64,
    /// Centre of mass in the object frame (uniform fill), metres.
    pub center_of_mass_object_m: Vector3<f64>,
    /// Instance id of the object this one rests on (`None` for structure).
    pub support: Option<u32>,
    /// Whether this is room structure (floor, wall, ceiling).
    pub is_structure: bool,
}

/// An object: groundtruth, geometry (parts in the object frame), texture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneObject {
    /// Groundtruth record.
    pub groundtruth: ObjectGroundtruth,
    /// Primitives, in the object frame.
    pub parts: Vec<Part>,
    /// Surface texture.
    pub texture: Texture,
}

/// What a caller hands to [`SceneBuilder::add_object`].
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectSpec {
    /// Class name.
    pub class: String,
    /// Material.
    pub material: Material,
    /// Primitives in a *base* frame of the caller's choice (e.g. origin at
    /// the bottom centre); the builder recentres them on the bounding box.
    pub parts: Vec<Part>,
    /// Texture; `None` picks a distinct colour from the instance id.
    pub texture: Option<Texture>,
}

/// A part placed in the world, cached for rendering.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorldPart {
    /// Index into `SyntheticScene::objects`.
    pub object_index: usize,
    pub world_from_part: Isometry3<f64>,
    pub object_from_part: Isometry3<f64>,
    pub shape: Shape,
    /// Bounding sphere (world).
    pub center_m: Point3<f64>,
    pub radius_m: f64,
}

/// A room with objects and exact groundtruth.
#[derive(Clone, Debug)]
pub struct SyntheticScene {
    room_size_m: Vector3<f64>,
    objects: Vec<SceneObject>,
    world_parts: Vec<WorldPart>,
}

/// `objects.json` content.
#[derive(Serialize)]
struct ObjectsFile<'a> {
    format_version: u32,
    room_size_m: Vector3<f64>,
    objects: Vec<&'a ObjectGroundtruth>,
}

impl SyntheticScene {
    /// Starts a custom room of inner size `room_size_m` (structure included).
    pub fn builder(room_size_m: Vector3<f64>) -> SceneBuilder {
        SceneBuilder::new(room_size_m)
    }

    /// The default furnished 5 × 4 × 2.6 m room; layout, sizes and colours
    /// vary with `seed` (see [`SceneBuilder::furnish`]).
    pub fn furnished_room(seed: u64) -> Self {
        SceneBuilder::new(Vector3::new(5.0, 4.0, 2.6))
            .furnish(seed)
            .build()
    }

    /// Inner room size, metres.
    pub fn room_size_m(&self) -> Vector3<f64> {
        self.room_size_m
    }

    /// All objects, structure first.
    pub fn objects(&self) -> &[SceneObject] {
        &self.objects
    }

    /// Object by instance id.
    pub fn object(&self, instance_id: u32) -> Option<&SceneObject> {
        self.objects
            .iter()
            .find(|o| o.groundtruth.instance_id == instance_id)
    }

    /// Groundtruth records of all objects.
    pub fn groundtruth(&self) -> Vec<ObjectGroundtruth> {
        self.objects.iter().map(|o| o.groundtruth.clone()).collect()
    }

    /// The first object of a class (e.g. `"table"`).
    pub fn first_of_class(&self, class: &str) -> Option<&SceneObject> {
        self.objects.iter().find(|o| o.groundtruth.class == class)
    }

    pub(crate) fn world_parts(&self) -> &[WorldPart] {
        &self.world_parts
    }

    /// Whether a world point lies inside any solid (structure included).
    pub fn is_occupied(&self, p_world: &Point3<f64>) -> bool {
        self.world_parts.iter().any(|wp| {
            (p_world - wp.center_m).norm() <= wp.radius_m
                && wp
                    .shape
                    .contains(&(wp.world_from_part.inverse_transform_point(p_world)).coords)
        })
    }

    /// Pairs of objects whose parts' oriented bounding boxes overlap by more
    /// than `tolerance_m` (touching, e.g. a mug on a table, is allowed).
    /// Disjoint boxes imply disjoint solids, so an empty list proves there is
    /// no interpenetration.
    pub fn interpenetrating_pairs(&self, tolerance_m: f64) -> Vec<(u32, u32)> {
        let mut pairs = Vec::new();
        let parts = &self.world_parts;
        for (i, a) in parts.iter().enumerate() {
            for b in &parts[i + 1..] {
                if a.object_index == b.object_index
                    || (a.center_m - b.center_m).norm() > a.radius_m + b.radius_m
                {
                    continue;
                }
                let ida = self.objects[a.object_index].groundtruth.instance_id;
                let idb = self.objects[b.object_index].groundtruth.instance_id;
                if obb_overlap(a, b, tolerance_m) && !pairs.contains(&(ida, idb)) {
                    pairs.push((ida, idb));
                }
            }
        }
        pairs
    }

    /// `objects.json`: `{format_version, room_size_m, objects: [...]}`.
    pub fn objects_json(&self) -> Result<String> {
        let file = ObjectsFile {
            format_version: 1,
            room_size_m: self.room_size_m,
            objects: self.objects.iter().map(|o| &o.groundtruth).collect(),
        };
        serde_json::to_string_pretty(&file).map_err(|source| Error::Json {
            path: "<memory>".into(),
            source,
        })
    }

    /// Writes `objects.json` to `path`.
    pub fn write_objects_json(&self, path: &Path) -> Result<()> {
        let text = self.objects_json()?;
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }
}

/// Separating-axis test of two parts' world OBBs (Gottschalk et al. 1996).
fn obb_overlap(a: &WorldPart, b: &WorldPart, tolerance_m: f64) -> bool {
    let ra: Matrix3<f64> = *a.world_from_part.rotation.to_rotation_matrix().matrix();
    let rb: Matrix3<f64> = *b.world_from_part.rotation.to_rotation_matrix().matrix();
    let ha = a.shape.half_extents_m();
    let hb = b.shape.half_extents_m();
    let d = b.world_from_part.translation.vector - a.world_from_part.translation.vector;
    let mut axes: Vec<Vector3<f64>> = Vec::with_capacity(15);
    for k in 0..3 {
        axes.push(ra.column(k).into_owned());
        axes.push(rb.column(k).into_owned());
    }
    for i in 0..3 {
        for j in 0..3 {
            let c = ra.column(i).cross(&rb.column(j));
            if c.norm() > 1e-9 {
                axes.push(c.normalize());
            }
        }
    }
    axes.iter().all(|axis| {
        let pa: f64 = (0..3).map(|k| ha[k] * ra.column(k).dot(axis).abs()).sum();
        let pb: f64 = (0..3).map(|k| hb[k] * rb.column(k).dot(axis).abs()).sum();
        d.dot(axis).abs() < pa + pb - tolerance_m
    })
}

/// Builds a [`SyntheticScene`]: structure first, then objects.
#[derive(Clone, Debug)]
pub struct SceneBuilder {
    room_size_m: Vector3<f64>,
    objects: Vec<SceneObject>,
}

impl SceneBuilder {
    /// An empty room of inner size `room_size_m` with floor (id 1), ceiling
    /// (id 2) and walls (ids 3..=6).
    pub fn new(room_size_m: Vector3<f64>) -> Self {
        let mut builder = Self {
            room_size_m,
            objects: Vec::new(),
        };
        let l = room_size_m;
        let full_x = l.x + 2.0 * SLAB_M;
        let full_y = l.y + 2.0 * SLAB_M;
        let slabs = [
            (
                FLOOR_ID,
                "floor",
                Vector3::new(l.x / 2.0, l.y / 2.0, -SLAB_M / 2.0),
                Vector3::new(full_x, full_y, SLAB_M),
                0.08,
                0.5,
            ),
            (
                CEILING_ID,
                "ceiling",
                Vector3::new(l.x / 2.0, l.y / 2.0, l.z + SLAB_M / 2.0),
                Vector3::new(full_x, full_y, SLAB_M),
                0.6,
                0.4,
            ),
            (
                WALL_IDS[0],
                "wall",
                Vector3::new(-SLAB_M / 2.0, l.y / 2.0, l.z / 2.0),
                Vector3::new(SLAB_M, full_y, l.z),
                0.15,
                0.3,
            ),
            (
                WALL_IDS[1],
                "wall",
                Vector3::new(l.x + SLAB_M / 2.0, l.y / 2.0, l.z / 2.0),
                Vector3::new(SLAB_M, full_y, l.z),
                0.35,
                0.3,
            ),
            (
                WALL_IDS[2],
                "wall",
                Vector3::new(l.x / 2.0, -SLAB_M / 2.0, l.z / 2.0),
                Vector3::new(l.x, SLAB_M, l.z),
                0.55,
                0.3,
            ),
            (
                WALL_IDS[3],
                "wall",
                Vector3::new(l.x / 2.0, l.y + SLAB_M / 2.0, l.z / 2.0),
                Vector3::new(l.x, SLAB_M, l.z),
                0.85,
                0.3,
            ),
        ];
        for (id, class, center, size, hue, cell) in slabs {
            let (material, density) = match class {
                "floor" => ("concrete", 2400.0),
                _ => ("plaster", 850.0),
            };
            let spec = ObjectSpec {
                class: class.to_owned(),
                material: Material::new(material, density, 1.0),
                parts: vec![Part::cuboid(Vector3::zeros(), size)],
                texture: Some(Texture::from_hsv(hue, 0.3, 0.9, cell, id)),
            };
            builder.push(
                id,
                spec,
                Isometry3::translation(center.x, center.y, center.z),
                None,
                true,
            );
        }
        builder
    }

    /// Inner room size, metres.
    pub fn room_size_m(&self) -> Vector3<f64> {
        self.room_size_m
    }

    /// Next free instance id.
    pub fn next_id(&self) -> u32 {
        self.objects
            .iter()
            .map(|o| o.groundtruth.instance_id)
            .max()
            .unwrap_or(0)
            + 1
    }

    /// An object added so far, by instance id.
    pub fn object(&self, instance_id: u32) -> Option<&SceneObject> {
        self.objects
            .iter()
            .find(|o| o.groundtruth.instance_id == instance_id)
    }

    /// Adds an object whose parts are given in a base frame placed at
    /// `world_from_base`, resting on `support` (an instance id). Returns the
    /// new instance id.
    pub fn add_object(
        &mut self,
        spec: ObjectSpec,
        world_from_base: Isometry3<f64>,
        support: Option<u32>,
    ) -> u32 {
        let id = self.next_id();
        self.push(id, spec, world_from_base, support, false);
        id
    }

    /// Builder-style [`Self::add_object`].
    pub fn with_object(
        mut self,
        spec: ObjectSpec,
        world_from_base: Isometry3<f64>,
        support: Option<u32>,
    ) -> Self {
        self.add_object(spec, world_from_base, support);
        self
    }

    fn push(
        &mut self,
        id: u32,
        spec: ObjectSpec,
        world_from_base: Isometry3<f64>,
        support: Option<u32>,
        is_structure: bool,
    ) {
        // Recentre on the bounding box of the parts (base frame axes kept).
        let mut lo = Point3::from(Vector3::repeat(f64::INFINITY));
        let mut hi = Point3::from(Vector3::repeat(f64::NEG_INFINITY));
        for part in &spec.parts {
            let (a, b) = part.object_aabb();
            lo = lo.inf(&a);
            hi = hi.sup(&b);
        }
        let (center, dimensions_m) = if spec.parts.is_empty() {
            (Vector3::zeros(), Vector3::zeros())
        } else {
            ((lo.coords + hi.coords) / 2.0, hi - lo)
        };
        let base_from_object = Translation3::from(center);
        let world_from_object = world_from_base * base_from_object;
        let parts: Vec<Part> = spec
            .parts
            .iter()
            .map(|p| Part {
                object_from_part: base_from_object.inverse() * p.object_from_part,
                shape: p.shape,
            })
            .collect();
        let volume_m3: f64 = parts.iter().map(|p| p.shape.volume_m3()).sum();
        let moment: Vector3<f64> = parts
            .iter()
            .map(|p| {
                (p.object_from_part * Point3::from(p.shape.centroid())).coords * p.shape.volume_m3()
            })
            .sum();
        let center_of_mass_object_m = if volume_m3 > 0.0 {
            moment / volume_m3
        } else {
            Vector3::zeros()
        };
        let texture = spec.texture.unwrap_or_else(|| {
            // Golden-ratio hue sequence (neighbouring ids get distant hues);
            // ids whose hues come close (differ by 5, 8 or 13) differ in
            // saturation or value.
            let hue = (0.07 + f64::from(id) * 0.618_033_988_75).fract();
            let saturation = [0.85, 0.5][(id % 2) as usize];
            let value = [0.95, 0.75, 0.55][(id % 3) as usize];
            Texture::from_hsv(hue, saturation, value, 0.05 + 0.01 * f64::from(id % 5), id)
        });
        let groundtruth = ObjectGroundtruth {
            instance_id: id,
            class: spec.class,
            world_from_object,
            dimensions_m,
            material: spec.material.name,
            density_kg_m3: spec.material.density_kg_m3,
            fill_fraction: spec.material.fill_fraction,
            volume_m3,
            mass_kg: spec.material.density_kg_m3 * spec.material.fill_fraction * volume_m3,
            center_of_mass_object_m,
            support,
            is_structure,
        };
        self.objects.push(SceneObject {
            groundtruth,
            parts,
            texture,
        });
    }

    /// Finishes the scene (caches world-frame parts for rendering).
    pub fn build(self) -> SyntheticScene {
        let mut world_parts = Vec::new();
        for (object_index, object) in self.objects.iter().enumerate() {
            for part in &object.parts {
                let world_from_part = object.groundtruth.world_from_object * part.object_from_part;
                world_parts.push(WorldPart {
                    object_index,
                    world_from_part,
                    object_from_part: part.object_from_part,
                    shape: part.shape,
                    center_m: Point3::from(world_from_part.translation.vector),
                    radius_m: part.shape.half_extents_m().norm(),
                });
            }
        }
        SyntheticScene {
            room_size_m: self.room_size_m,
            objects: self.objects,
            world_parts,
        }
    }
}
