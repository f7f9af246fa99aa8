"""ADBench's hand model for ``ht``: its bone tree and pose layout, a synthetic hand at its sizes, and a caller's
model checked against them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

N_THETA = 26  # global rotation (3), translation (3), then 4 per finger: 2 at its first posed joint, 1 at the next two
N_FINGERS = 5
# ADBench's model: a wrist, five fingers of four bones each, a forearm; 544 vertices, 1 084 triangles.
N_BONES, N_VERTICES, N_TRIANGLES = 22, 544, 1084


def pose_slots(n_bones: int) -> np.ndarray:
    """Where each bone's three Euler angles come from, as ADBench's to_pose_params lays them out: an index into
    theta[6:] followed by one zero, (n_bones, 3). Per finger the first posed joint takes two angles, the next two
    one each; the wrist, each finger's first bone and the forearm stay unposed."""
    zero = N_THETA - 6  # the appended zero
    slots = np.full((n_bones, 3), zero, dtype=np.int64)
    i_theta, bone = 0, 2  # ADBench's i_pose_params = 5 is bone 2 (pose columns 0-2 are global)
    for _ in range(N_FINGERS):
        for joint in range(3):
            slots[bone, 0] = i_theta
            i_theta += 1
            if joint == 0:
                slots[bone, 1] = i_theta
                i_theta += 1
            bone += 1
        bone += 1
    return slots


# -- a synthetic hand at ADBench's sizes ---------------------------------------------------------------------------
PARENTS = (-1,) + sum(((0, 1 + 4 * f, 2 + 4 * f, 3 + 4 * f) for f in range(N_FINGERS)), ()) + (0,)
# Bone lengths along each bone's y axis, from ADBench's model (m): a finger's first bone is a stub at the wrist.
LENGTHS = (0.0, *(0.0036, 0.105, 0.03, 0.025) * N_FINGERS, 0.0036)
# ADBench's model weights 215 vertices to one bone, 289 to two, 21 to three and 19 to four.
BONES_PER_VERTEX = ((1, 215), (2, 289), (3, 21), (4, 19))


def _rotation(rng: np.random.Generator, scale: float) -> np.ndarray:
    """A random rotation of angle ~ scale, by Rodrigues' formula."""
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    angle = scale * rng.standard_normal()
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = i * math.pi * (3 - math.sqrt(5))
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def hand_model(seed: int = 0) -> dict:
    """A synthetic hand with ADBench's structure: its bone tree, 22 bones of ADBench's lengths with random
    orientations, 544 vertices around them (skinned to 1-4 neighbouring bones in ADBench's proportions) and
    1 084 triangles: a closed genus-0 mesh, as ADBench's is (the convex hull of points on a sphere, 2V - 4
    faces), whose bands of vertices follow the bones. Deterministic in ``seed``."""
    from scipy.spatial import ConvexHull

    rng = np.random.default_rng([seed, 1884])
    relatives = np.tile(np.eye(4), (N_BONES, 1, 1))
    for b in range(N_BONES):
        finger_base = PARENTS[b] == 0
        relatives[b, :3, :3] = _rotation(rng, 1.0 if finger_base or b == 0 else 0.3)
        relatives[b, 1, 3] = LENGTHS[b]
    chain: list[np.ndarray] = []  # each bone's absolute transform, parents first
    for b, parent in enumerate(PARENTS):
        chain.append(relatives[b] if parent < 0 else chain[parent] @ relatives[b])
    absolutes = np.array(chain)
    inverse = np.linalg.inv(absolutes)
    # Vertices in bands along the sphere's axis, band b on bone b in the tree's depth-first order, so that
    # triangles join neighbouring bones; each is placed around its bone's segment.
    sphere = _fibonacci_sphere(N_VERTICES)
    share = np.array(
        [0.08 if b == 0 else 0.06 if b == 21 else 0.02 if PARENTS[b] == 0 else 0.04 for b in range(N_BONES)]
    )
    bone_of = np.minimum(
        np.searchsorted(np.cumsum(share / share.sum()), (np.arange(N_VERTICES) + 0.5) / N_VERTICES), N_BONES - 1
    )
    local = np.zeros((N_VERTICES, 4))
    along = rng.random(N_VERTICES) * np.maximum(np.array(LENGTHS)[bone_of], 0.02)
    local[:, 0] = 0.01 * sphere[:, 0]
    local[:, 1] = along
    local[:, 2] = 0.01 * sphere[:, 1]
    local[:, 3] = 1
    positions = np.einsum("vij,vj->vi", absolutes[bone_of], local)
    counts = rng.choice(
        [k for k, _ in BONES_PER_VERTEX], size=N_VERTICES, p=np.array([v for _, v in BONES_PER_VERTEX]) / N_VERTICES
    )
    neighbours = [
        [b2 for b2 in range(N_BONES) if b2 != b and (PARENTS[b2] == b or PARENTS[b] == b2)] for b in range(N_BONES)
    ]
    weights = np.zeros((N_VERTICES, N_BONES))
    for v in range(N_VERTICES):
        bones = [int(bone_of[v])] + list(rng.permutation(neighbours[bone_of[v]])[: counts[v] - 1])
        weights[v, bones] = rng.dirichlet(np.full(len(bones), 2.0))
    triangles = ConvexHull(sphere).simplices.astype(np.int64)
    assert triangles.shape == (N_TRIANGLES, 3)
    return {
        "parents": PARENTS,
        "base_relatives": relatives,
        "inverse_base_absolutes": inverse,
        "base_positions": positions,
        "weights": weights,
        "is_mirrored": False,
        "triangles": triangles,
    }


# -- any model and any number of points: the caller's constants --------------------------------------------------
MODEL = ("parents", "base_relatives", "inverse_base_absolutes", "base_positions", "weights", "is_mirrored")


def checked_indices(
    name: str, problem: str, value: npt.ArrayLike, count: int, what: str, shape_tail: tuple[int, ...] = ()
) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "iu" or a.ndim != 1 + len(shape_tail) or a.shape[1:] != shape_tail or a.shape[0] < 1:
        raise ValueError(
            f"constant {name!r} of problem {problem!r} must be an integer array of shape "
            f"(c{''.join(f', {t}' for t in shape_tail)}), not {a.dtype} of shape {a.shape}"
        )
    if a.min() < 0 or a.max() >= count:
        raise ValueError(
            f"constant {name!r} of problem {problem!r}: indices must lie in [0, {count}) ({what}), not "
            f"[{a.min()}, {a.max()}]"
        )
    return a.astype(np.int64)


def checked_model(given: Mapping[str, Any], problem: str, complicated: bool) -> dict:
    """The hand model from the caller's constants (the synthetic hand's for any not given), shapes checked by name:
    any number of vertices V (ADBench's small model has 544, its big one more) and triangles; 22 bones, since the
    26-parameter pose (``pose_slots``) is laid out on ADBench's bone tree."""
    default = hand_model(0)
    model = {k: given.get(k, default[k]) for k in MODEL + (("triangles",) if complicated else ())}
    parents = tuple(int(p) for p in model["parents"])
    if len(parents) != N_BONES or any(not -1 <= p < b for b, p in enumerate(parents)):
        raise ValueError(
            f"constant 'parents' of problem {problem!r} must list {N_BONES} bones, each parent before its "
            f"child (-1 for the root): the 26-parameter pose is laid out on ADBench's bone tree; got "
            f"{len(parents)}"
        )
    model["parents"] = parents
    for key in ("base_relatives", "inverse_base_absolutes"):
        model[key] = np.asarray(model[key], dtype=np.float64)
        if model[key].shape != (N_BONES, 4, 4):
            raise ValueError(
                f"constant {key!r} of problem {problem!r} must have shape ({N_BONES}, 4, 4), not {model[key].shape}"
            )
    positions = np.asarray(model["base_positions"], dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] not in (3, 4) or positions.shape[0] < 1:
        raise ValueError(
            f"constant 'base_positions' of problem {problem!r} must be V x 4 (homogeneous) or V x 3, "
            f"not {positions.shape}"
        )
    if positions.shape[1] == 3:  # ADBench's vertices.txt gives x, y, z: the fourth coordinate is 1
        positions = np.concatenate([positions, np.ones((positions.shape[0], 1))], axis=1)
    model["base_positions"] = positions
    n_vertices = positions.shape[0]
    model["weights"] = np.asarray(model["weights"], dtype=np.float64)
    if model["weights"].shape != (n_vertices, N_BONES):
        raise ValueError(
            f"constant 'weights' of problem {problem!r} must have shape ({n_vertices}, {N_BONES}): a "
            f"row per vertex of 'base_positions', a column per bone; not {model['weights'].shape}"
        )
    model["is_mirrored"] = bool(model["is_mirrored"])
    if complicated:
        model["triangles"] = checked_indices("triangles", problem, model["triangles"], n_vertices, "vertices", (3,))
    return model
