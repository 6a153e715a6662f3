//! Human-readable one-line summaries of scene-graph objects (printed by the
//! examples, shown by the Rerun viewer).

use nalgebra::Vector3;

use crate::scene_graph::ObjectNode;

/// Formats a positive quantity with about two significant digits, the
/// precision the physics priors support: `6.8`, `27`, `0.42`.
pub fn format_2sig(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        format!("{x}")
    } else if a >= 10.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The one-line label of an object:
/// `"chair #3: 6.8 kg (4.9–9.4), slide 27 N, tip 41 N at 0.8 m"` —
/// median mass with its 90 % interval, median force to slide it and median
/// force to tip it when pushed horizontally at `push_height_m` above its
/// support. The tip force is for the easiest direction: along the box's
/// narrower horizontal axis (shortest lever arm). Without a valid push
/// analysis (e.g. a degenerate box) the forces read `push n/a`.
pub fn object_label(node: &ObjectNode, push_height_m: f64) -> String {
    let (low, high) = node.mass_kg.interval90();
    let mass = format!(
        "{} kg ({}–{})",
        format_2sig(node.mass_kg.median),
        format_2sig(low),
        format_2sig(high)
    );
    let b = &node.bounding_box;
    let (s, c) = b.yaw_rad.sin_cos();
    let direction = if b.half_extents_m.x <= b.half_extents_m.y {
        Vector3::new(c, s, 0.0)
    } else {
        Vector3::new(-s, c, 0.0)
    };
    let push = match node.push_force(&direction, push_height_m) {
        Ok(p) => format!(
            "slide {} N, tip {} N at {} m",
            format_2sig(p.slide_force_n.median),
            format_2sig(p.tip_force_n.median),
            // Heights are set by the caller: show them to the cm, no padding.
            (push_height_m * 100.0).round() / 100.0
        ),
        Err(_) => "push n/a".to_owned(),
    };
    format!("{} #{}: {mass}, {push}", node.class_name, node.id.0)
}
