"""Legged locomotion: quadruped trot (gait, leg_kinematics, quadruped) and humanoid walking
(humanoid_*). Pure algorithms, no rclpy."""
