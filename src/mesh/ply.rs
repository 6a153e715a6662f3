//! PLY (Stanford polygon format) export, binary little-endian or ASCII:
//! `vertex { x y z nx ny nz : float; red green blue : uchar }` and
//! `face { vertex_indices : list uchar int }` — what MeshLab, CloudCompare,
//! Open3D, Blender and `plyfile` read.

use std::io::{BufWriter, Write};
use std::path::Path;

use super::Mesh;
use crate::error::{Error, Result};

/// PLY encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PlyFormat {
    /// `format binary_little_endian 1.0` (compact, fast).
    #[default]
    BinaryLittleEndian,
    /// `format ascii 1.0` (human-readable; floats printed round-trip exact).
    Ascii,
}

impl Mesh {
    /// Writes the mesh as a PLY file; I/O errors name the file.
    pub fn write_ply(&self, path: impl AsRef<Path>, format: PlyFormat) -> Result<()> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut writer = BufWriter::new(file);
        self.write_ply_to(&mut writer, format)
            .and_then(|()| writer.flush())
            .map_err(|e| Error::io(path, e))
    }

    /// Writes the mesh as PLY to any writer.
    pub fn write_ply_to<W: Write>(&self, writer: &mut W, format: PlyFormat) -> std::io::Result<()> {
        let format_line = match format {
            PlyFormat::BinaryLittleEndian => "binary_little_endian",
            PlyFormat::Ascii => "ascii",
        };
        write!(
            writer,
            "ply\nformat {format_line} 1.0\ncomment scenemap TSDF mesh\n\
             element vertex {}\n\
             property float x\nproperty float y\nproperty float z\n\
             property float nx\nproperty float ny\nproperty float nz\n\
             property uchar red\nproperty uchar green\nproperty uchar blue\n\
             element face {}\nproperty list uchar int vertex_indices\nend_header\n",
            self.vertices.len(),
            self.triangles.len()
        )?;
        let normal = |i: usize| self.normals.get(i).copied().unwrap_or_default();
        let color = |i: usize| self.colors.get(i).copied().unwrap_or([255; 3]);
        match format {
            PlyFormat::BinaryLittleEndian => {
                let mut buf = Vec::with_capacity(27 * self.vertices.len().min(1 << 16));
                for (i, p) in self.vertices.iter().enumerate() {
                    let n = normal(i);
                    for v in [p.x, p.y, p.z, n.x, n.y, n.z] {
                        buf.extend_from_slice(&v.to_le_bytes());
                    }
                    buf.extend_from_slice(&color(i));
                    if buf.len() >= 1 << 20 {
                        writer.write_all(&buf)?;
                        buf.clear();
                    }
                }
                for t in &self.triangles {
                    buf.push(3);
                    for &v in t {
                        buf.extend_from_slice(&(v as i32).to_le_bytes());
                    }
                    if buf.len() >= 1 << 20 {
                        writer.write_all(&buf)?;
                        buf.clear();
                    }
                }
                writer.write_all(&buf)?;
            }
            PlyFormat::Ascii => {
                for (i, p) in self.vertices.iter().enumerate() {
                    let (n, c) = (normal(i), color(i));
                    writeln!(
                        writer,
                        "{} {} {} {} {} {} {} {} {}",
                        p.x, p.y, p.z, n.x, n.y, n.z, c[0], c[1], c[2]
                    )?;
                }
                for t in &self.triangles {
                    writeln!(writer, "3 {} {} {}", t[0], t[1], t[2])?;
                }
            }
        }
        Ok(())
    }
}
