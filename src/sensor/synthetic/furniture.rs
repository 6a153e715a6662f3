//! Furniture made of primitives, and the seeded random layout of the default
//! furnished room.
//!
//! Every `*_spec` function returns parts in a *base* frame with the origin at
//! the centre of the object's footprint on its support surface (z = 0 is the
//! contact plane), +x the object's front. The layout places footprints as
//! oriented rectangles and rejects overlaps (separating axis test), so objects
//! never interpenetrate by construction; the scene test re-checks it in 3-D.

use std::f64::consts::{FRAC_PI_2, PI};

use nalgebra::{Isometry3, Vector2, Vector3};

use crate::sensor::synthetic::primitives::{Part, Shape};
use crate::sensor::synthetic::rng::Rng;
use crate::sensor::synthetic::scene::{Material, ObjectSpec, SceneBuilder, FLOOR_ID};

/// A table: top plus four square legs inset by 4 cm. `top_size_m` is
/// (length along x, width along y).
pub fn table_spec(
    top_size_m: Vector2<f64>,
    height_m: f64,
    top_thickness_m: f64,
    leg_width_m: f64,
) -> ObjectSpec {
    let (l, w, h, t, lw) = (
        top_size_m.x,
        top_size_m.y,
        height_m,
        top_thickness_m,
        leg_width_m,
    );
    let mut parts = vec![Part::cuboid(
        Vector3::new(0.0, 0.0, h - t / 2.0),
        Vector3::new(l, w, t),
    )];
    let leg_h = h - t;
    for (sx, sy) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
        let x = sx * (l / 2.0 - 0.04 - lw / 2.0);
        let y = sy * (w / 2.0 - 0.04 - lw / 2.0);
        parts.push(Part::cuboid(
            Vector3::new(x, y, leg_h / 2.0),
            Vector3::new(lw, lw, leg_h),
        ));
    }
    ObjectSpec {
        class: "table".into(),
        material: Material::new("oak", 700.0, 1.0),
        parts,
        texture: None,
    }
}

/// A chair with a square seat of side `seat_width_m` at `seat_height_m`, four
/// legs and a back rising `back_height_m` above the seat on the −x side (the
/// chair faces +x).
pub fn chair_spec(seat_width_m: f64, seat_height_m: f64, back_height_m: f64) -> ObjectSpec {
    let (w, sh, bh) = (seat_width_m, seat_height_m, back_height_m);
    let (seat_t, leg_w, back_t) = (0.04, 0.035, 0.03);
    let mut parts = vec![
        Part::cuboid(
            Vector3::new(0.0, 0.0, sh - seat_t / 2.0),
            Vector3::new(w, w, seat_t),
        ),
        Part::cuboid(
            Vector3::new(-w / 2.0 + back_t / 2.0, 0.0, sh + bh / 2.0),
            Vector3::new(back_t, w, bh),
        ),
    ];
    let leg_h = sh - seat_t;
    for (sx, sy) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
        let x = sx * (w / 2.0 - leg_w / 2.0);
        let y = sy * (w / 2.0 - leg_w / 2.0);
        parts.push(Part::cuboid(
            Vector3::new(x, y, leg_h / 2.0),
            Vector3::new(leg_w, leg_w, leg_h),
        ));
    }
    ObjectSpec {
        class: "chair".into(),
        material: Material::new("beech", 720.0, 1.0),
        parts,
        texture: None,
    }
}

/// Shelf geometry needed to put things on its boards.
#[derive(Clone, Copy, Debug)]
pub struct ShelfLayout {
    /// Heights of the boards' top faces (base frame), bottom first.
    pub board_tops_m: [f64; 6],
    /// Number of boards.
    pub boards: usize,
    /// Inner width between the side panels.
    pub inner_width_m: f64,
    /// Usable depth of the boards (in front of the back panel).
    pub board_depth_m: f64,
}

/// A shelf of `width_m` (along y) × `depth_m` (along x, front +x) ×
/// `height_m`: two side panels, a back panel and `boards` (2..=6) boards.
pub fn shelf_spec(
    width_m: f64,
    depth_m: f64,
    height_m: f64,
    boards: usize,
) -> (ObjectSpec, ShelfLayout) {
    let boards = boards.clamp(2, 6);
    let (w, d, h) = (width_m, depth_m, height_m);
    let (side_t, board_t, back_t) = (0.02, 0.02, 0.01);
    let inner = w - 2.0 * side_t;
    let mut parts = Vec::new();
    for s in [1.0, -1.0] {
        parts.push(Part::cuboid(
            Vector3::new(0.0, s * (w / 2.0 - side_t / 2.0), h / 2.0),
            Vector3::new(d, side_t, h),
        ));
    }
    parts.push(Part::cuboid(
        Vector3::new(-d / 2.0 + back_t / 2.0, 0.0, h / 2.0),
        Vector3::new(back_t, inner, h),
    ));
    let board_depth = d - back_t;
    let mut tops = [0.0; 6];
    for (k, top) in tops.iter_mut().enumerate().take(boards) {
        let z0 = k as f64 * (h - board_t) / (boards - 1) as f64;
        *top = z0 + board_t;
        parts.push(Part::cuboid(
            Vector3::new(back_t / 2.0, 0.0, z0 + board_t / 2.0),
            Vector3::new(board_depth, inner, board_t),
        ));
    }
    let spec = ObjectSpec {
        class: "shelf".into(),
        material: Material::new("mdf", 750.0, 1.0),
        parts,
        texture: None,
    };
    let layout = ShelfLayout {
        board_tops_m: tops,
        boards,
        inner_width_m: inner,
        board_depth_m: board_depth,
    };
    (spec, layout)
}

/// A box of `size_m` standing on its base.
pub fn box_spec(size_m: Vector3<f64>, material: Material) -> ObjectSpec {
    ObjectSpec {
        class: "box".into(),
        material,
        parts: vec![Part::cuboid(Vector3::new(0.0, 0.0, size_m.z / 2.0), size_m)],
        texture: None,
    }
}

/// A ceramic mug: a cup of outer `radius_m`, 4 mm wall, 8 mm bottom.
pub fn mug_spec(radius_m: f64, height_m: f64) -> ObjectSpec {
    ObjectSpec {
        class: "mug".into(),
        material: Material::new("ceramic", 2300.0, 1.0),
        parts: vec![Part::at(
            Vector3::new(0.0, 0.0, height_m / 2.0),
            Shape::Cup {
                radius_m,
                inner_radius_m: radius_m - 0.004,
                half_height_m: height_m / 2.0,
                bottom_thickness_m: 0.008,
            },
        )],
        texture: None,
    }
}

/// A water bottle: a body cylinder (75 % of the height) and a neck of 40 %
/// of the radius; water-filled PET modelled as density 1000 kg/m³, 95 % fill.
pub fn bottle_spec(radius_m: f64, height_m: f64) -> ObjectSpec {
    let body_h = 0.75 * height_m;
    let neck_h = height_m - body_h;
    ObjectSpec {
        class: "bottle".into(),
        material: Material::new("water_filled_pet", 1000.0, 0.95),
        parts: vec![
            Part::at(
                Vector3::new(0.0, 0.0, body_h / 2.0),
                Shape::Cylinder {
                    radius_m,
                    half_height_m: body_h / 2.0,
                },
            ),
            Part::at(
                Vector3::new(0.0, 0.0, body_h + neck_h / 2.0),
                Shape::Cylinder {
                    radius_m: 0.4 * radius_m,
                    half_height_m: neck_h / 2.0,
                },
            ),
        ],
        texture: None,
    }
}

/// An oriented rectangle on a support plane (centre, half extents, yaw).
#[derive(Clone, Copy, Debug)]
struct Footprint {
    center: Vector2<f64>,
    half: Vector2<f64>,
    yaw: f64,
}

impl Footprint {
    fn axes(&self) -> [Vector2<f64>; 2] {
        let (s, c) = self.yaw.sin_cos();
        [Vector2::new(c, s), Vector2::new(-s, c)]
    }

    fn corners(&self) -> [Vector2<f64>; 4] {
        let [ax, ay] = self.axes();
        let (ex, ey) = (ax * self.half.x, ay * self.half.y);
        [
            self.center + ex + ey,
            self.center + ex - ey,
            self.center - ex + ey,
            self.center - ex - ey,
        ]
    }

    /// Separating axis test with a clearance margin.
    fn overlaps(&self, other: &Footprint, margin: f64) -> bool {
        let d = other.center - self.center;
        let (a, b) = (self.axes(), other.axes());
        a.iter().chain(b.iter()).all(|axis| {
            let ra = self.half.x * a[0].dot(axis).abs() + self.half.y * a[1].dot(axis).abs();
            let rb = other.half.x * b[0].dot(axis).abs() + other.half.y * b[1].dot(axis).abs();
            d.dot(axis).abs() < ra + rb + margin
        })
    }

    fn inside(&self, lo: Vector2<f64>, hi: Vector2<f64>) -> bool {
        self.corners()
            .iter()
            .all(|c| c.x >= lo.x && c.y >= lo.y && c.x <= hi.x && c.y <= hi.y)
    }
}

/// Footprint of a spec placed at `(x, y, yaw)` (base frame origin).
fn footprint(spec: &ObjectSpec, x: f64, y: f64, yaw: f64) -> Footprint {
    let mut lo = Vector2::repeat(f64::INFINITY);
    let mut hi = Vector2::repeat(f64::NEG_INFINITY);
    for part in &spec.parts {
        let (a, b) = part.object_aabb();
        lo = lo.inf(&a.coords.xy());
        hi = hi.sup(&b.coords.xy());
    }
    let c_local = (lo + hi) / 2.0;
    let (s, c) = yaw.sin_cos();
    let c_world = Vector2::new(
        x + c * c_local.x - s * c_local.y,
        y + s * c_local.x + c * c_local.y,
    );
    Footprint {
        center: c_world,
        half: (hi - lo) / 2.0,
        yaw,
    }
}

fn pose(x: f64, y: f64, z: f64, yaw: f64) -> Isometry3<f64> {
    Isometry3::new(Vector3::new(x, y, z), Vector3::new(0.0, 0.0, yaw))
}

impl SceneBuilder {
    /// Adds seeded random furniture: a table near the centre, 2–4 chairs
    /// facing it, a shelf against a wall with a box on a board, 2–3 boxes on
    /// the floor, and a box, a mug and a bottle on the table. Objects on the
    /// floor stand on it, things on the table stand on its top, nothing
    /// overlaps. Rooms smaller than about 3 × 3 m may get fewer objects (or
    /// none, if the table does not fit).
    pub fn furnish(mut self, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let l = self.room_size_m();
        let room_lo = Vector2::new(0.05, 0.05);
        let room_hi = Vector2::new(l.x - 0.05, l.y - 0.05);
        let mut placed: Vec<Footprint> = Vec::new();

        // Table near the room centre.
        let top = Vector2::new(rng.range(1.0, 1.5), rng.range(0.6, 0.85));
        let table_h = rng.range(0.70, 0.78);
        let table = table_spec(top, table_h, rng.range(0.03, 0.05), rng.range(0.04, 0.06));
        let (tx, ty, tyaw) = (
            l.x / 2.0 + rng.range(-0.3, 0.3),
            l.y / 2.0 + rng.range(-0.25, 0.25),
            rng.range(-PI, PI),
        );
        let world_from_table_base = pose(tx, ty, 0.0, tyaw);
        let table_fp = footprint(&table, tx, ty, tyaw);
        if !table_fp.inside(room_lo, room_hi) {
            return self; // room too small to furnish
        }
        placed.push(table_fp);
        let table_id = self.add_object(table, world_from_table_base, Some(FLOOR_ID));

        // Chairs facing the table from its sides (first two on the long sides).
        let n_chairs = rng.int_range(2, 4);
        for c in 0..n_chairs {
            for _ in 0..60 {
                let side = if c < 2 { c } else { rng.int_range(0, 3) };
                let w = rng.range(0.40, 0.48);
                let chair = chair_spec(w, rng.range(0.42, 0.48), rng.range(0.40, 0.50));
                let gap = rng.range(0.05, 0.25);
                // (position in the table frame, yaw making the chair face the table)
                let (local, yaw) = match side {
                    0 => (
                        Vector2::new(
                            rng.range(-top.x / 4.0, top.x / 4.0),
                            top.y / 2.0 + gap + w / 2.0,
                        ),
                        -FRAC_PI_2,
                    ),
                    1 => (
                        Vector2::new(
                            rng.range(-top.x / 4.0, top.x / 4.0),
                            -top.y / 2.0 - gap - w / 2.0,
                        ),
                        FRAC_PI_2,
                    ),
                    2 => (
                        Vector2::new(top.x / 2.0 + gap + w / 2.0, rng.range(-0.1, 0.1)),
                        PI,
                    ),
                    _ => (
                        Vector2::new(-top.x / 2.0 - gap - w / 2.0, rng.range(-0.1, 0.1)),
                        0.0,
                    ),
                };
                let yaw = tyaw + yaw + rng.range(-0.3, 0.3);
                let p = world_from_table_base * nalgebra::Point3::new(local.x, local.y, 0.0);
                let fp = footprint(&chair, p.x, p.y, yaw);
                if fp.inside(room_lo, room_hi) && placed.iter().all(|o| !fp.overlaps(o, 0.03)) {
                    placed.push(fp);
                    self.add_object(chair, pose(p.x, p.y, 0.0, yaw), Some(FLOOR_ID));
                    break;
                }
            }
        }

        // Shelf against a wall, front facing the room, with a box on a board.
        for _ in 0..100 {
            let (w, d, h) = (
                rng.range(0.6, 1.0),
                rng.range(0.28, 0.38),
                rng.range(1.4, 1.9),
            );
            let (shelf, layout) = shelf_spec(w, d, h, rng.int_range(3, 5) as usize);
            let wall = rng.int_range(0, 3);
            let along_len = if wall < 2 { l.y } else { l.x };
            if along_len < w + 0.2 {
                continue;
            }
            let s = rng.range(w / 2.0 + 0.05, along_len - w / 2.0 - 0.05);
            let off = d / 2.0 + 0.01;
            let (x, y, yaw) = match wall {
                0 => (off, s, 0.0),
                1 => (l.x - off, s, PI),
                2 => (s, off, FRAC_PI_2),
                _ => (s, l.y - off, -FRAC_PI_2),
            };
            let fp = footprint(&shelf, x, y, yaw);
            if !(fp.inside(Vector2::zeros(), l.xy())
                && placed.iter().all(|o| !fp.overlaps(o, 0.05)))
            {
                continue;
            }
            placed.push(fp);
            let world_from_shelf_base = pose(x, y, 0.0, yaw);
            let shelf_id = self.add_object(shelf, world_from_shelf_base, Some(FLOOR_ID));
            // Item on a random board below the top one.
            let board = rng.int_range(0, layout.boards as u32 - 2) as usize;
            let clearance = layout.board_tops_m[board + 1] - 0.02 - layout.board_tops_m[board];
            let size = Vector3::new(
                rng.range(0.12, layout.board_depth_m - 0.04),
                rng.range(0.12, (layout.inner_width_m / 2.0).min(0.3)),
                rng.range(0.08, (clearance - 0.03).clamp(0.081, 0.25)),
            );
            if size.z < clearance - 0.01 {
                let y_max = layout.inner_width_m / 2.0 - size.y / 2.0 - 0.01;
                let local = pose(
                    0.005,
                    rng.range(-y_max, y_max),
                    layout.board_tops_m[board],
                    0.0,
                );
                let item = box_spec(size, Material::new("cardboard", 700.0, 0.06));
                self.add_object(item, world_from_shelf_base * local, Some(shelf_id));
            }
            break;
        }

        // Boxes on the floor.
        let n_boxes = rng.int_range(2, 3);
        for _ in 0..n_boxes {
            for _ in 0..100 {
                let size = Vector3::new(
                    rng.range(0.2, 0.5),
                    rng.range(0.2, 0.5),
                    rng.range(0.15, 0.45),
                );
                let (x, y, yaw) = (rng.range(0.0, l.x), rng.range(0.0, l.y), rng.range(-PI, PI));
                let item = box_spec(size, Material::new("cardboard", 700.0, 0.06));
                let fp = footprint(&item, x, y, yaw);
                if fp.inside(room_lo, room_hi) && placed.iter().all(|o| !fp.overlaps(o, 0.05)) {
                    placed.push(fp);
                    self.add_object(item, pose(x, y, 0.0, yaw), Some(FLOOR_ID));
                    break;
                }
            }
        }

        // Things on the table top (table base frame; top face at z = table_h).
        let mut on_table: Vec<Footprint> = Vec::new();
        let top_lo = -top / 2.0 + Vector2::repeat(0.03);
        let top_hi = top / 2.0 - Vector2::repeat(0.03);
        let r_mug = rng.range(0.035, 0.045);
        let r_bottle = rng.range(0.03, 0.04);
        let items = [
            box_spec(
                Vector3::new(
                    rng.range(0.1, 0.25),
                    rng.range(0.1, 0.25),
                    rng.range(0.06, 0.2),
                ),
                Material::new("pine", 500.0, 1.0),
            ),
            mug_spec(r_mug, rng.range(0.09, 0.11)),
            bottle_spec(r_bottle, rng.range(0.2, 0.28)),
        ];
        for item in items {
            for _ in 0..100 {
                let (x, y, yaw) = (
                    rng.range(top_lo.x, top_hi.x),
                    rng.range(top_lo.y, top_hi.y),
                    rng.range(-PI, PI),
                );
                let fp = footprint(&item, x, y, yaw);
                if fp.inside(top_lo, top_hi) && on_table.iter().all(|o| !fp.overlaps(o, 0.03)) {
                    on_table.push(fp);
                    self.add_object(
                        item,
                        world_from_table_base * pose(x, y, table_h, yaw),
                        Some(table_id),
                    );
                    break;
                }
            }
        }
        self
    }
}
