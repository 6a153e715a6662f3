#!/usr/bin/env python3
"""Generates tests/data/fr1_rpy_perturbed_estimate.txt (scenemap's own script).

A deterministic, synthetic "estimated trajectory" for the TUM fr1_rpy sequence,
used to check scenemap's ATE/RPE against evo and TUM's evaluate_rpe.py
(see REFERENCE.md). The estimate is groundtruth interpolated at the colour
timestamps of rgb.txt, then perturbed:

    world'_from_camera_k = S * F * D_k * G(t_k) * N_k

G(t_k)  groundtruth at the colour timestamp (linear/slerp interpolation),
N_k     white noise (rotation 0.15 deg, translation 2 mm per axis),
D_k     drift: a random walk in SE(3) (0.03 deg and 0.4 mm per axis per frame,
        plus a constant translational bias of 30 um/frame along x),
F       a fixed rigid transform (35 deg about a tilted axis, (0.7, -1.2, 0.4) m),
S       a global scale of 1.03 applied to positions (so Sim(3) alignment matters),
and each timestamp is shifted by 2 ms + U(-4, 4) ms (so association matters).

Randomness is SplitMix64 + Box-Muller, written out here, so the output does not
depend on numpy's generator. Usage:
    python3 tests/data/make_perturbed_estimate.py ../shared/data/tum/fr1_rpy \
        > tests/data/fr1_rpy_perturbed_estimate.txt
"""
import math
import sys

import numpy as np

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        """Uniform in (0, 1): 53 random bits, never 0."""
        return ((self.next_u64() >> 11) + 0.5) / float(1 << 53)

    def gauss(self):
        """Standard normal by Box-Muller (one value per call)."""
        u1, u2 = self.uniform(), self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def quat_to_rot(qx, qy, qz, qw):
    n = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    x, y, z, w = qx / n, qy / n, qz / n, qw / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def rot_to_quat(r):
    """(x, y, z, w) with w >= 0 (Shepperd's method)."""
    tr = r[0, 0] + r[1, 1] + r[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
        q = [0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s]
    elif r[1, 1] > r[2, 2]:
        s = math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2]) * 2
        q = [(r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s]
    else:
        s = math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1]) * 2
        q = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s, (r[1, 0] - r[0, 1]) / s]
    if q[3] < 0:
        q = [-v for v in q]
    return q


def exp_so3(w):
    theta = math.sqrt(float(w @ w))
    k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
    if theta < 1e-12:
        return np.eye(3) + k
    return np.eye(3) + math.sin(theta) / theta * k + (1 - math.cos(theta)) / theta**2 * (k @ k)


def se3(r, t):
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = t
    return m


def slerp(q0, q1, a):
    q0, q1 = np.array(q0), np.array(q1)
    d = float(q0 @ q1)
    if d < 0:
        q1, d = -q1, -d
    if d > 0.9995:
        q = q0 + a * (q1 - q0)
        return q / np.linalg.norm(q)
    th = math.acos(d)
    return (math.sin((1 - a) * th) * q0 + math.sin(a * th) * q1) / math.sin(th)


def read_rows(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                rows.append(line.split())
    return rows


def main():
    folder = sys.argv[1]
    gt = [[float(v) for v in r] for r in read_rows(folder + "/groundtruth.txt")]
    gt_t = [r[0] for r in gt]
    rgb_t = [float(r[0]) for r in read_rows(folder + "/rgb.txt")]

    rng = SplitMix64(20240611)
    f_axis = np.array([0.3, -0.5, 0.8])
    f_axis /= np.linalg.norm(f_axis)
    world2_from_world = se3(exp_so3(math.radians(35.0) * f_axis), [0.7, -1.2, 0.4])
    scale = 1.03
    drift = np.eye(4)
    out = ["# synthetic estimate for fr1_rpy, made by tests/data/make_perturbed_estimate.py",
           "# timestamp tx ty tz qx qy qz qw"]
    for t in rgb_t:
        # Groundtruth at the colour timestamp.
        i = max(1, min(len(gt_t) - 1, int(np.searchsorted(gt_t, t))))
        a, b = gt[i - 1], gt[i]
        alpha = (t - a[0]) / (b[0] - a[0])
        pos = (1 - alpha) * np.array(a[1:4]) + alpha * np.array(b[1:4])
        q = slerp(a[4:8], b[4:8], alpha)
        world_from_camera = se3(quat_to_rot(*q), pos)
        # Drift random walk (left-multiplied, in the world frame).
        dw = np.array([rng.gauss() for _ in range(3)]) * math.radians(0.03)
        dv = np.array([rng.gauss() for _ in range(3)]) * 0.0004 + np.array([3e-5, 0, 0])
        drift = drift @ se3(exp_so3(dw), dv)
        # Per-frame noise (right-multiplied, in the camera frame).
        nw = np.array([rng.gauss() for _ in range(3)]) * math.radians(0.15)
        nv = np.array([rng.gauss() for _ in range(3)]) * 0.002
        est = world2_from_world @ drift @ world_from_camera @ se3(exp_so3(nw), nv)
        est[:3, 3] *= scale
        dt = 0.002 + (rng.uniform() * 2.0 - 1.0) * 0.004
        qx, qy, qz, qw = rot_to_quat(est[:3, :3])
        x, y, z = est[:3, 3]
        out.append("%.6f %.9f %.9f %.9f %.9f %.9f %.9f %.9f" % (t + dt, x, y, z, qx, qy, qz, qw))
    print("\n".join(out))


if __name__ == "__main__":
    main()
