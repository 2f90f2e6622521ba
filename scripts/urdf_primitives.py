"""Shared pieces of the URDF generators: primitive shapes, composite inertias, XML writers.

Each link is a set of primitives (cylinders, boxes, spheres) of uniform density; its inertial
block is the composite of those primitives, so inertias are physical by construction.
Used by gen_arm_urdf.py, gen_quadruped_urdf.py and gen_humanoid_urdf.py (run them from anywhere:
the scripts' own directory is on sys.path when run as a script).
"""

from __future__ import annotations

import math

import numpy as np

MUJOCO_BLOCK = ["  <mujoco>",
                '    <compiler discardvisual="false" fusestatic="false" balanceinertia="true"'
                ' autolimits="true"/>',
                "  </mujoco>"]


def rpy_from_z(d):
    d = np.asarray(d, float) / np.linalg.norm(d)
    pitch = math.acos(max(-1.0, min(1.0, d[2])))
    yaw = math.atan2(d[1], d[0]) if abs(d[2]) < 1 - 1e-12 else 0.0
    return (0.0, pitch, yaw)


def rot_rpy(r, p, y):
    cr, sr, cp, sp, cy, sy = (math.cos(r), math.sin(r), math.cos(p), math.sin(p),
                              math.cos(y), math.sin(y))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


class Shape:
    """kind cyl: (r, length) along local z; box: (sx, sy, sz); sphere: (r,)."""

    def __init__(self, kind, dims, xyz, rpy=(0, 0, 0), color="white", name=None):
        self.kind, self.dims, self.xyz, self.rpy = kind, dims, np.array(xyz, float), rpy
        self.color, self.name = color, name

    def volume(self):
        if self.kind == "cyl":
            r, h = self.dims
            return math.pi * r * r * h
        if self.kind == "sphere":
            return 4 / 3 * math.pi * self.dims[0] ** 3
        return float(np.prod(self.dims))

    def inertia_unit_mass_local(self):
        if self.kind == "cyl":
            r, h = self.dims
            i = (3 * r * r + h * h) / 12
            return np.diag([i, i, r * r / 2])
        if self.kind == "sphere":
            return np.eye(3) * 0.4 * self.dims[0] ** 2
        sx, sy, sz = self.dims
        return np.diag([sy**2 + sz**2, sx**2 + sz**2, sx**2 + sy**2]) / 12


def segment(p0, p1, r, color="white"):
    p0, p1 = np.array(p0, float), np.array(p1, float)
    d = p1 - p0
    return Shape("cyl", (r, float(np.linalg.norm(d))), (p0 + p1) / 2, rpy_from_z(d), color)


def composite(shapes, mass):
    vols = np.array([s.volume() for s in shapes])
    masses = mass * vols / vols.sum()
    com = sum(m * s.xyz for m, s in zip(masses, shapes, strict=False)) / mass
    inertia = np.zeros((3, 3))
    for m, s in zip(masses, shapes, strict=False):
        rot = rot_rpy(*s.rpy)
        inertia += m * rot @ s.inertia_unit_mass_local() @ rot.T
        c = s.xyz - com
        inertia += m * (c @ c * np.eye(3) - np.outer(c, c))
    return com, inertia


def fmt(v):
    return " ".join(f"{x:.6g}" for x in v)


def geom_xml(s):
    if s.kind == "cyl":
        g = f'<cylinder radius="{s.dims[0]:.6g}" length="{s.dims[1]:.6g}"/>'
    elif s.kind == "sphere":
        g = f'<sphere radius="{s.dims[0]:.6g}"/>'
    else:
        g = f'<box size="{fmt(s.dims)}"/>'
    return g


def link_xml(name, shapes, mass, collide=True, extra_collision=()):
    com, inertia = composite(shapes, mass)
    eig = np.linalg.eigvalsh(inertia)
    assert eig.min() > 0 and eig[0] + eig[1] >= eig[2] - 1e-12, name
    out = [f'  <link name="{name}">']
    out.append("    <inertial>")
    out.append(f'      <origin xyz="{fmt(com)}" rpy="0 0 0"/>')
    out.append(f'      <mass value="{mass:.6g}"/>')
    i = inertia
    out.append(f'      <inertia ixx="{i[0,0]:.6g}" ixy="{i[0,1]:.6g}" ixz="{i[0,2]:.6g}" '
               f'iyy="{i[1,1]:.6g}" iyz="{i[1,2]:.6g}" izz="{i[2,2]:.6g}"/>')
    out.append("    </inertial>")
    for s in shapes:
        out.append("    <visual>")
        out.append(f'      <origin xyz="{fmt(s.xyz)}" rpy="{fmt(s.rpy)}"/>')
        out.append(f"      <geometry>{geom_xml(s)}</geometry>")
        out.append(f'      <material name="{s.color}"/>')
        out.append("    </visual>")
    for s in list(shapes if collide else []) + list(extra_collision):
        nm = f' name="{s.name}"' if s.name else ""
        out.append(f"    <collision{nm}>")
        out.append(f'      <origin xyz="{fmt(s.xyz)}" rpy="{fmt(s.rpy)}"/>')
        out.append(f"      <geometry>{geom_xml(s)}</geometry>")
        out.append("    </collision>")
    out.append("  </link>")
    return "\n".join(out)


def joint_xml(name, jtype, parent, child, xyz, rpy, axis=(0, 0, 1), limit=None):
    out = [f'  <joint name="{name}" type="{jtype}">',
           f'    <parent link="{parent}"/>', f'    <child link="{child}"/>',
           f'    <origin xyz="{fmt(xyz)}" rpy="{fmt(rpy)}"/>']
    if jtype != "fixed":
        out.append(f'    <axis xyz="{fmt(axis)}"/>')
    if limit:
        lo, hi, vel, eff = limit
        out.append(f'    <limit lower="{lo:.6g}" upper="{hi:.6g}" velocity="{vel:.6g}" '
                   f'effort="{eff:.6g}"/>')
    out.append("  </joint>")
    return "\n".join(out)


def frame_xml(name, parent, xyz, rpy=(0, 0, 0)):
    """A massless frame (e.g. a foot or sole) on a fixed joint."""
    return f'  <link name="{name}"/>\n' + joint_xml(f"{name}_joint", "fixed", parent, name,
                                                     xyz, rpy)


def materials_xml(colors):
    return [f'  <material name="{n}"><color rgba="{fmt(c)}"/></material>'
            for n, c in colors.items()]


def write_urdf(path, robot_name, comment_lines, colors, body_parts):
    """Header (comment, robot tag, MuJoCo compiler block, materials) + parts + closing tag."""
    parts = ['<?xml version="1.0"?>', *comment_lines, f'<robot name="{robot_name}">',
             *MUJOCO_BLOCK, *materials_xml(colors), *body_parts, "</robot>\n"]
    with open(path, "w") as f:
        f.write("\n".join(parts))


def generate(main, urdf_name: str) -> None:
    """Every generator's command line: `python scripts/gen_X_urdf.py [OUT]` (default urdf/NAME)."""
    import sys
    from pathlib import Path

    default = Path(__file__).resolve().parents[1] / "urdf" / urdf_name
    main(sys.argv[1] if len(sys.argv) > 1 else str(default))
