"""Generate urdf/humanoid.urdf: a 23-DoF humanoid (~38 kg, ~1.35 m) from primitives.

Usage: python scripts/gen_humanoid_urdf.py [OUT]  (default: urdf/humanoid.urdf). Edit the
dimensions here, not the URDF, then regenerate.

Frames: base_link is the pelvis (x forward, z up); the floating base is added by the loader.
Legs (<s> = left, right): <s>_hip_yaw/_hip_roll/_hip_pitch/_knee/_ankle_pitch/_ankle_roll_joint;
pitch joints turn about y (hip pitch - = thigh forward, knee + = bent, ankle pitch - = toes up).
waist_yaw_joint carries the torso; head_yaw_joint, head_pitch_joint (+ = look down) the head.
Arms: <s>_shoulder_pitch (- = forward), _shoulder_roll (+ = left arm out, - = right arm out),
_shoulder_yaw, _elbow_joint (- = bent). Frames: <s>_sole (centre of the sole, on the ground),
<s>_hand (palm centre, z along the forearm towards the fingertips... i.e. down with the arm
hanging), head_camera (between the eyes, x forward).
"""
from urdf_primitives import Shape, frame_xml, generate, joint_xml, link_xml, segment, write_urdf

PI2 = 1.5707963267948966
PELVIS_M = (0.14, 0.22, 0.10)
HIP_Y_M, HIP_YAW_Z_M, HIP_ROLL_Z_M = 0.09, -0.06, -0.07
THIGH_LEN_M = SHIN_LEN_M = 0.30
FOOT_M = (0.22, 0.10, 0.03)  # box; its bottom is the sole
FOOT_X_M, ANKLE_HEIGHT_M = 0.03, 0.05  # sole centre ahead of / below the ankle axes
WAIST_Z_M, SHOULDER_Y_M, SHOULDER_Z_M = 0.07, 0.17, 0.28
UPPER_ARM_M, FOREARM_M = 0.22, 0.20
MASS_KG = {"pelvis": 5.0, "hip_yaw": 1.0, "hip_roll": 1.0, "thigh": 3.0, "shin": 2.0,
           "ankle": 0.3, "foot": 0.8, "torso": 9.0, "neck": 0.3, "head": 1.7,
           "shoulder_pitch": 0.5, "shoulder_roll": 0.5, "upper_arm": 1.0, "forearm": 0.8}
# (lower, upper) rad, velocity rad/s, effort N m; roll limits are for the left side (mirrored)
LIMITS = {
    "hip_yaw": (-0.6, 0.6, 20.0, 88.0), "hip_roll": (-0.35, 0.6, 20.0, 88.0),
    "hip_pitch": (-2.2, 0.9, 20.0, 88.0), "knee": (-0.05, 2.4, 20.0, 139.0),
    "ankle_pitch": (-0.9, 0.6, 20.0, 50.0), "ankle_roll": (-0.4, 0.4, 20.0, 50.0),
    "waist_yaw": (-1.5, 1.5, 10.0, 88.0), "head_yaw": (-1.3, 1.3, 6.0, 6.0),
    "head_pitch": (-0.6, 0.9, 6.0, 6.0), "shoulder_pitch": (-3.0, 1.2, 10.0, 25.0),
    "shoulder_roll": (-0.3, 2.6, 10.0, 25.0), "shoulder_yaw": (-1.6, 1.6, 10.0, 18.0),
    "elbow": (-2.5, 0.0, 10.0, 18.0),
}
SIDES = {"left": 1, "right": -1}
AX, AY, AZ = (1, 0, 0), (0, 1, 0), (0, 0, 1)
COLORS = {
    "body": (0.85, 0.86, 0.88, 1.0),
    "joint": (0.15, 0.15, 0.18, 1.0),
    "accent": (0.2, 0.45, 0.8, 1.0),
    "sole": (0.05, 0.05, 0.05, 1.0),
}


def limit(kind, sign=1):
    lo, hi, vel, eff = LIMITS[kind]
    return (lo, hi, vel, eff) if sign > 0 else (-hi, -lo, vel, eff)


def chain(parts, parent, links):
    """links: (joint suffix, link name, xyz, axis, limit, shapes, mass, collide)."""
    for jname, lname, xyz, axis, lim, shapes, mass, collide in links:
        parts.append(link_xml(lname, shapes, mass, collide=collide))
        parts.append(joint_xml(jname, "revolute", parent, lname, xyz, (0, 0, 0), axis, lim))
        parent = lname
    return parent


def leg(parts, s, sy):
    m = MASS_KG
    foot = Shape("box", FOOT_M, (FOOT_X_M, 0, -ANKLE_HEIGHT_M + FOOT_M[2] / 2), color="sole",
                 name=f"{s}_foot_collision")
    last = chain(parts, "base_link", [
        (f"{s}_hip_yaw_joint", f"{s}_hip_yaw_link", (0, sy * HIP_Y_M, HIP_YAW_Z_M), AZ,
         limit("hip_yaw"), [Shape("cyl", (0.04, 0.05), (0, 0, -0.025), color="joint")],
         m["hip_yaw"], False),
        (f"{s}_hip_roll_joint", f"{s}_hip_roll_link", (0, 0, HIP_ROLL_Z_M), AX,
         limit("hip_roll", sy), [Shape("cyl", (0.045, 0.08), (0, 0, 0), (0, PI2, 0), "joint")],
         m["hip_roll"], False),
        (f"{s}_hip_pitch_joint", f"{s}_thigh_link", (0, 0, 0), AY, limit("hip_pitch"),
         [Shape("cyl", (0.05, 0.06), (0, 0, 0), (PI2, 0, 0), "joint"),
          segment((0, 0, -0.04), (0, 0, -THIGH_LEN_M), 0.045, "body")], m["thigh"], False),
        (f"{s}_knee_joint", f"{s}_shin_link", (0, 0, -THIGH_LEN_M), AY, limit("knee"),
         [segment((0, 0, 0), (0, 0, -(SHIN_LEN_M - 0.04)), 0.04, "body")], m["shin"], True),
        (f"{s}_ankle_pitch_joint", f"{s}_ankle_link", (0, 0, -SHIN_LEN_M), AY,
         limit("ankle_pitch"), [Shape("cyl", (0.03, 0.04), (0, 0, 0), (PI2, 0, 0), "joint")],
         m["ankle"], False),
        (f"{s}_ankle_roll_joint", f"{s}_foot_link", (0, 0, 0), AX, limit("ankle_roll", sy),
         [foot], m["foot"], True),
    ])
    parts.append(frame_xml(f"{s}_sole", last, (FOOT_X_M, 0, -ANKLE_HEIGHT_M)))


def arm(parts, s, sy):
    m = MASS_KG
    last = chain(parts, "torso_link", [
        (f"{s}_shoulder_pitch_joint", f"{s}_shoulder_pitch_link", (0, sy * SHOULDER_Y_M,
                                                                   SHOULDER_Z_M), AY,
         limit("shoulder_pitch"),
         [Shape("cyl", (0.04, 0.06), (0, sy * 0.03, 0), (PI2, 0, 0), "joint")],
         m["shoulder_pitch"], False),
        (f"{s}_shoulder_roll_joint", f"{s}_shoulder_roll_link", (0, sy * 0.06, 0), AX,
         limit("shoulder_roll", sy),
         [Shape("cyl", (0.04, 0.06), (0, 0, 0), (0, PI2, 0), "joint")], m["shoulder_roll"],
         False),
        (f"{s}_shoulder_yaw_joint", f"{s}_upper_arm_link", (0, 0, -0.04), AZ,
         limit("shoulder_yaw"), [segment((0, 0, 0), (0, 0, -(UPPER_ARM_M - 0.04)), 0.035,
                                         "body")], m["upper_arm"], False),
        (f"{s}_elbow_joint", f"{s}_forearm_link", (0, 0, -UPPER_ARM_M), AY, limit("elbow"),
         [segment((0, 0, 0), (0, 0, -FOREARM_M), 0.03, "body"),
          Shape("box", (0.05, 0.03, 0.08), (0, 0, -FOREARM_M - 0.04), color="accent")],
         m["forearm"], True),
    ])
    parts.append(frame_xml(f"{s}_hand", last, (0, 0, -FOREARM_M - 0.04)))


def main(path):
    m = MASS_KG
    parts = [link_xml("base_link", [Shape("box", PELVIS_M, (0, 0, 0), color="joint")],
                      m["pelvis"])]
    for s, sy in SIDES.items():
        leg(parts, s, sy)
    torso = [Shape("cyl", (0.05, 0.04), (0, 0, 0.02), color="joint"),
             Shape("box", (0.16, 0.26, 0.30), (0, 0, 0.19), color="body"),
             Shape("box", (0.02, 0.12, 0.10), (0.085, 0, 0.24), color="accent")]
    head = chain(parts, "base_link", [
        ("waist_yaw_joint", "torso_link", (0, 0, WAIST_Z_M), AZ, limit("waist_yaw"), torso,
         m["torso"], True),
        ("head_yaw_joint", "neck_link", (0, 0, 0.36), AZ, limit("head_yaw"),
         [Shape("cyl", (0.03, 0.05), (0, 0, 0.025), color="joint")], m["neck"], False),
        ("head_pitch_joint", "head_link", (0, 0, 0.06), AY, limit("head_pitch"),
         [Shape("sphere", (0.09,), (0.01, 0, 0.08), color="body"),
          Shape("box", (0.02, 0.12, 0.04), (0.09, 0, 0.09), color="sole")], m["head"], True),
    ])
    parts.append(frame_xml("head_camera", head, (0.1, 0, 0.09)))
    for s, sy in SIDES.items():
        arm(parts, s, sy)
    comment = ["<!-- vla_stack 23-DoF humanoid, built from primitives (generated by",
               "     scripts/gen_humanoid_urdf.py). base_link = pelvis, x forward, z up;",
               "     floating base added by the loader. Inertias are the composite inertias of",
               "     the visual primitives (uniform density per link). -->"]
    write_urdf(path, "vla_humanoid", comment, COLORS, parts)


if __name__ == "__main__":
    generate(main, "humanoid.urdf")
