"""Generate urdf/arm.urdf from primitives, computing composite inertias.

Usage: python scripts/gen_arm_urdf.py [OUT]  (default: urdf/arm.urdf). Edit the dimensions here,
not the URDF, then regenerate.
"""
import math

from urdf_primitives import MUJOCO_BLOCK, Shape, fmt, generate, joint_xml, link_xml, segment

PI2 = math.pi / 2
D1, D3, A, D5, A7, DF = 0.34, 0.32, 0.08, 0.38, 0.09, 0.10
HAND_LEN, FINGER_LEN, PAD_LEN = 0.065, 0.05, 0.02
TOOL_Z = HAND_LEN + FINGER_LEN - PAD_LEN / 2  # pad centre

COLORS = {
    "white": (0.92, 0.92, 0.92, 1.0),
    "dark": (0.25, 0.25, 0.28, 1.0),
    "pad": (0.1, 0.1, 0.1, 1.0),
}


def main(path):
    parts = ['<?xml version="1.0"?>',
             "<!-- vla_stack 7-DoF arm with a parallel gripper, built from primitives.",
             "     base_link sits on the table surface (z up, x forward). Inertias are the",
             "     composite inertias of the visual primitives (uniform density per link). -->",
             '<robot name="vla_arm">', *MUJOCO_BLOCK]
    for n, c in COLORS.items():
        parts.append(f'  <material name="{n}"><color rgba="{fmt(c)}"/></material>')

    links = {
        "base_link": ([Shape("cyl", (0.085, 0.03), (0, 0, 0.015), color="dark"),
                       Shape("cyl", (0.065, 0.09), (0, 0, 0.075))], 4.0),
        # frame at the shoulder (z = D1), column down to the base
        "arm_link_1": ([segment((0, 0, -(D1 - 0.12)), (0, 0, -0.06), 0.06),
                        segment((0, -0.065, 0), (0, 0.065, 0), 0.06, "dark")], 3.0),
        "arm_link_2": ([segment((0, 0, -0.06), (0, 0, 0.06), 0.058, "dark"),
                        segment((0, -0.06, 0), (0, -(D3 - 0.10), 0), 0.05)], 3.0),
        "arm_link_3": ([segment((0, 0, -0.10), (0, 0, 0.0), 0.05),
                        segment((0, 0, 0), (A, 0, 0), 0.05),
                        segment((A, 0.055, 0), (A, -0.055, 0), 0.055, "dark")], 2.5),
        "arm_link_4": ([segment((0, 0, -0.055), (0, 0, 0.055), 0.05, "dark"),
                        segment((0, 0, 0), (-A, 0, 0), 0.05),
                        segment((-A, 0, 0), (-A, 0.13, 0), 0.048)], 2.5),
        "arm_link_5": ([segment((0, 0, -(D5 - 0.13)), (0, 0, -0.05), 0.045),
                        segment((0, -0.05, 0), (0, 0.05, 0), 0.05, "dark")], 2.0),
        "arm_link_6": ([segment((0, 0, -0.05), (0, 0, 0.05), 0.045, "dark"),
                        segment((0, 0, 0), (A7, 0, 0), 0.045),
                        segment((A7, 0.045, 0), (A7, -0.045, 0), 0.045)], 1.5),
        "arm_link_7": ([segment((0, 0, -0.03), (0, 0, DF), 0.04, "dark")], 0.6),
        "gripper_hand": ([Shape("box", (0.17, 0.05, HAND_LEN), (0, 0, HAND_LEN / 2)),
                          Shape("cyl", (0.04, 0.01), (0, 0, 0.005), color="dark")], 0.7),
    }
    arm_rpy = [(0, 0, 0), (-PI2, 0, 0), (PI2, 0, 0), (PI2, 0, 0), (-PI2, 0, 0),
               (PI2, 0, 0), (PI2, 0, 0)]
    arm_xyz = [(0, 0, D1), (0, 0, 0), (0, -D3, 0), (A, 0, 0), (-A, D5, 0), (0, 0, 0), (A7, 0, 0)]
    arm_lim = [(-2.9, 2.9, 2.175, 87), (-1.76, 1.76, 2.175, 87), (-2.9, 2.9, 2.175, 87),
               (-3.07, -0.07, 2.175, 87), (-2.9, 2.9, 2.61, 12), (-0.0175, 3.75, 2.61, 12),
               (-2.9, 2.9, 2.61, 12)]
    for name, (shapes, mass) in links.items():
        parts.append(link_xml(name, shapes, mass))
    parents = ["base_link"] + [f"arm_link_{i}" for i in range(1, 7)]
    for i in range(7):
        parts.append(joint_xml(f"arm_joint_{i+1}", "revolute", parents[i], f"arm_link_{i+1}",
                               arm_xyz[i], arm_rpy[i], limit=arm_lim[i]))
    parts.append(joint_xml("gripper_hand_joint", "fixed", "arm_link_7", "gripper_hand",
                           (0, 0, DF), (0, 0, -math.pi / 4)))
    # fingers: left at -x (opens along -x), right at +x; inner pad faces meet at x=0 when closed
    for side, sgn in (("left", -1.0), ("right", 1.0)):
        body = Shape("box", (0.011, 0.02, FINGER_LEN), (sgn * 0.0085, 0, FINGER_LEN / 2),
                     color="white")
        pad = Shape("box", (0.004, 0.022, PAD_LEN), (sgn * 0.002, 0, FINGER_LEN - PAD_LEN / 2),
                    color="pad", name=f"gripper_{side}_pad")
        fname = f"gripper_{side}_finger"
        parts.append(link_xml(fname, [body, pad], 0.05))
        parts.append(joint_xml(f"gripper_{side}_finger_joint", "prismatic", "gripper_hand",
                               fname, (0, 0, HAND_LEN), (0, 0, 0), axis=(sgn, 0, 0),
                               limit=(0.0, 0.04, 0.1, 20.0)))
    parts.append('  <link name="tool0"/>')
    parts.append(joint_xml("tool0_joint", "fixed", "gripper_hand", "tool0", (0, 0, TOOL_Z),
                           (0, 0, 0)))
    parts.append("</robot>\n")
    with open(path, "w") as f:
        f.write("\n".join(parts))


if __name__ == "__main__":
    generate(main, "arm.urdf")
