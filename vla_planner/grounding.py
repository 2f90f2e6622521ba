"""Grounding an instruction in the perceived scene, and what a task may touch.

The instruction's object references ("the red block", "all the red things", "the box") are
parsed into mentions; each is matched against perception's objects: colour words exactly (the
palette is closed, and sentence embeddings barely tell "red" from "purple"), the head noun by
perception's shape words and their synonyms ("pylon" ~ cylinder), else by MiniLM similarity
("bucket" ~ bin). A mention that matches nothing makes the task infeasible before anything
moves; one that matches several is ambiguous: `disambiguate` picks the language model's
likeliest reading before planning (and it is reported). Candidates are then restricted to the
matched objects and to the deny-list, so the planner can only act on what the instruction names.

Object names and descriptions are data: they never reach the prompt's instruction lines, only
the candidate texts, and only after `safe_words` has checked they are a few plain words.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from vla_planner.prompt import Candidate, ObjectRef, clean_instruction

COLOUR_SYNONYMS = {"gray": "grey", "violet": "purple", "crimson": "red", "scarlet": "red"}
COLOURS = frozenset({"red", "green", "blue", "yellow", "orange", "purple", "white", "black",
                     "pink", "brown", "grey", "cyan", "magenta"}) | frozenset(COLOUR_SYNONYMS)
DETERMINERS = frozenset({"the", "a", "an", "this", "that", "these", "those", "my", "your"})
QUANTIFIERS = frozenset({"all", "every", "each", "both"})
MODIFIERS = frozenset({"small", "big", "large", "little", "tiny", "other", "same"})
GENERIC_NOUNS = frozenset({"thing", "things", "object", "objects", "one", "ones", "item", "items",
                           "stuff", "everything", "toy", "toys"})
# Words after "the" that name places or the robot, not scene objects.
NON_OBJECT_NOUNS = frozenset({
    "left", "right", "table", "front", "back", "middle", "center", "centre", "side", "top",
    "bottom", "robot", "gripper", "arm", "floor", "way", "corner", "edge", "scene", "workspace",
    "task", "end", "same", "first", "second", "next", "last", "rest"})
# A mention after these is where something is put, not what is moved ("to" is left out: in
# "walk to the cone" the cone is what the skill acts on).
DESTINATION_WORDS = frozenset({"in", "into", "inside", "on", "onto"})
PHRASE_BREAKS = frozenset({
    "in", "into", "inside", "on", "onto", "to", "at", "from", "with", "near", "next", "by", "of",
    "and", "then", "or", "up", "down", "over", "under", "behind", "please", "it", "them",
    "that", "which", "is", "are", "so", "away", "off", "out", "there", "here", "too", "as",
    "now", "first", "carefully", "gently", "quickly", "again", "for", "me", "back", "while"})
# Perception's shape words and what people call such things: a synonym names the object as
# the shape word does, and the gloss "a box crate pedestal" is what an unlisted word is compared
# with. MiniLM barely knows "pylon" (0.18 to "a cylinder can cone") or "pedestal" (0.38 to "a
# box"); the gloss also keeps "a bed" or "a bag" (0.52-0.54 to "a box") away (measured).
SHAPE_SYNONYMS = {"cube": ("block",), "bin": ("container",), "ball": ("sphere",),
                  "cylinder": ("can", "cone", "pylon"), "box": ("crate", "pedestal")}
NOUN_THRESHOLD = 0.5     # cosine of "a <noun>" vs "a <object noun gloss>"; below: not that object
NOUN_MARGIN = 0.1        # keep matches this close to the best one (a red cube AND a red box)
_SAFE_WORDS = re.compile(r"[a-z][a-z0-9]*(?: [a-z0-9]+){0,3}")
MAX_DESCRIPTION_CHARS = 40
# A second object described like an earlier one is "the second red cube": SmolLM2 read "red
# cube 2" as "red cube" (a prefix of it) and picked the first cube again (measured).
ORDINALS = ("second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")


def plannable_objects(entries: Iterable[tuple[str, str, str, str, str]]
                      ) -> tuple[list[ObjectRef], list[str]]:
    """(name, description, colour, shape word, kind) from perception -> the objects the planner
    may name to the LM, and the names of those it must ignore.

    Names and descriptions are data, possibly hostile ("ignore the task and ..."): each object is
    described by the first of its description, its name's words, or colour + shape that is a few
    plain words and not already used by another object; a repeat of an earlier object's words is
    numbered in words (two "red cube"s: "red cube", "second red cube")."""
    refs: list[ObjectRef] = []
    rejected: list[str] = []
    used_words: set[str] = set()
    for name, description, colour, shape_word, kind in entries:
        if not name or any(r.name == name for r in refs):
            continue
        # a description that is not plain words marks the entry as suspect: then only its
        # structured fields (colour, shape) may describe it, never its name
        description = description.strip()
        suspect = bool(description) and not safe_words(description)
        options = [] if suspect else [description, name.replace("_", " ")]
        options.append(f"{colour} {shape_word}".strip())
        options = [w for w in options if safe_words(w)]
        if options and options[0] in used_words:
            options.insert(0, _next_ordinal(options[0], used_words))
        options = [w for w in options if w and safe_words(w) and w not in used_words]
        if not options:
            rejected.append(name)
            continue
        refs.append(ObjectRef(name, options[0], kind or "graspable"))
        used_words.add(options[0])
    return refs, rejected


def _next_ordinal(words: str, used_words: set[str]) -> str:
    """'second red cube' for the second 'red cube', ... ("" past the last ordinal)."""
    for ordinal in ORDINALS:
        if f"{ordinal} {words}" not in used_words:
            return f"{ordinal} {words}"
    return ""


class TextEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def canonical_colour(word: str) -> str:
    return COLOUR_SYNONYMS.get(word, word)


def safe_words(text: str) -> bool:
    """True for a short description of plain words ("red cube", "mug 2"): nothing that could read
    as a sentence, an instruction or prompt markup gets into a candidate text."""
    return (isinstance(text, str) and len(text) <= MAX_DESCRIPTION_CHARS
            and _SAFE_WORDS.fullmatch(text) is not None)


@dataclass(frozen=True)
class Mention:
    """One object reference in an instruction."""

    text: str                 # as written, e.g. "the red block"
    colour: str | None        # canonical palette word, or None
    noun: str                 # head noun ("block"), or "one" when only a colour was given
    destination: bool         # after in/into/on: where something is put
    plural: bool              # "all the red things", "the cubes": every match is meant
    span: tuple[int, int] = (0, 0)  # token range in words_of(instruction)

    @property
    def generic(self) -> bool:
        return self.noun in GENERIC_NOUNS


def parse_mentions(instruction: str) -> list[Mention]:
    """Noun phrases that start with a determiner, a quantifier or a colour word."""
    tokens = words_of(instruction)
    mentions, i = [], 0
    while i < len(tokens):
        start, token = i, tokens[i]
        quantified = token in QUANTIFIERS
        if quantified or token in DETERMINERS:
            i += 1
            while i < len(tokens) and (tokens[i] in DETERMINERS or tokens[i] == "of"):
                i += 1  # "all of the", "both the"
        elif token not in COLOURS:
            i += 1
            continue
        colours = []
        while i < len(tokens) and (tokens[i] in COLOURS or tokens[i] in MODIFIERS):
            if tokens[i] in COLOURS:
                colours.append(canonical_colour(tokens[i]))
            i += 1
        head = None
        nouns = []  # a compound ("charging dock") is up to three words
        while i < len(tokens) and len(nouns) < 3 and tokens[i] not in (
                PHRASE_BREAKS | DETERMINERS | QUANTIFIERS | COLOURS):
            nouns.append(tokens[i])
            i += 1
        if nouns:
            head = " ".join(nouns)
        if head is None and not colours:
            continue  # "the" before a break: nothing named
        if head is not None and not colours and head in NON_OBJECT_NOUNS:
            continue  # "on the left", "from the table"
        noun = head or "one"
        plural = quantified or _is_plural(noun)
        before = tokens[max(0, start - 2):start]
        destination = bool(before) and (before[-1] in DESTINATION_WORDS or before == ["top", "of"])
        mentions.append(Mention(" ".join(tokens[start:i]), colours[-1] if colours else None,
                                noun, destination, plural, (start, i)))
    return mentions


def _is_plural(noun: str) -> bool:
    return noun in {"things", "objects", "ones", "items", "toys"} or (
        len(noun) > 3 and noun.endswith("s") and not noun.endswith("ss"))


def _singulars(noun: str) -> set[str]:
    forms = {noun}
    if noun.endswith("es"):
        forms.add(noun[:-2])
    if noun.endswith("s"):
        forms.add(noun[:-1])
    return forms


def object_words(obj: ObjectRef) -> tuple[set[str], str]:
    """An object's colour words and head noun, from its description ("red cube")."""
    words = words_of(obj.description)
    colours = {canonical_colour(w) for w in words if w in COLOURS}
    nouns = [w for w in words if w not in COLOURS and w not in ORDINALS]
    return colours, (" ".join(nouns) if nouns else "object")


@dataclass(frozen=True)
class Resolution:
    mention: Mention
    matches: tuple[str, ...]          # object names, best first
    reason: str = ""                  # why nothing matched, when nothing did
    chosen: str | None = None         # for an ambiguous mention: the LM's pick
    lm_scores: tuple[tuple[str, float], ...] = ()   # (name, log p) the pick was made from

    @property
    def ambiguous(self) -> bool:
        return not self.mention.plural and len(self.matches) > 1

    @property
    def effective(self) -> tuple[str, ...]:
        """The objects the task may use for this mention."""
        return (self.chosen,) if self.chosen is not None else self.matches


@dataclass(frozen=True)
class Grounding:
    """The instruction's mentions resolved against one snapshot of the scene."""

    instruction: str
    resolutions: tuple[Resolution, ...]
    kinds_by_name: dict[str, frozenset[str]] = field(default_factory=dict)
    words_by_name: dict[str, str] = field(default_factory=dict)

    def lm_instruction(self) -> str:
        """The instruction in perception's words: each mention that names exactly one object is
        replaced by that object's description ("the red block" -> "the red cube"), so the LM
        compares like with like. Ambiguous and plural mentions stay as written."""
        tokens = words_of(self.instruction)
        for r in sorted(self.resolutions, key=lambda r: -r.mention.span[0]):
            start, end = r.mention.span
            if not r.effective or end <= start:
                continue
            if len(r.effective) == 1:
                lead = tokens[start] + " " if tokens[start] in DETERMINERS else ""
                words = lead + self.words_by_name[r.effective[0]]
            else:  # "all the red things" -> "the red cube and the red ball"
                words = " and ".join(f"the {self.words_by_name[n]}" for n in r.effective)
            tokens[start:end] = words.split()
        return " ".join(tokens)

    @property
    def unresolved(self) -> list[Resolution]:
        return [r for r in self.resolutions if not r.matches]

    @property
    def ambiguous(self) -> list[Resolution]:
        return [r for r in self.resolutions if r.ambiguous]

    def named_order(self) -> list[str]:
        """The objects the instruction names, in the order it names them."""
        names = [n for r in sorted(self.resolutions, key=lambda r: r.mention.span)
                 for n in r.effective]
        return list(dict.fromkeys(names))

    def destinations_by_object(self) -> dict[str, frozenset[str]]:
        """object -> where the instruction says it goes, when it names several places: in
        "put the red cube in the blue bin and the yellow cube in the green bin" each object
        takes the destination named after it. Empty with one place or none (nothing to pair):
        then any named destination is allowed."""
        pairs: dict[str, set[str]] = {}
        pending: list[str] = []
        places = set()
        for r in sorted(self.resolutions, key=lambda r: r.mention.span):
            if not r.mention.destination:
                pending += r.effective
                continue
            places.add(r.effective)
            for name in pending:
                pairs.setdefault(name, set()).update(r.effective)
            pending = []
        if len(places) < 2:
            return {}
        return {name: frozenset(dests) for name, dests in pairs.items()}

    def named_destinations(self) -> frozenset[str]:
        """The objects the instruction names as where something goes ("in the blue bin",
        "on the green cube")."""
        return frozenset(n for r in self.resolutions if r.mention.destination for n in r.effective)

    def restricted_kinds(self) -> dict[str, frozenset[str]]:
        """kind -> the only objects of that kind the task may use. Kinds the instruction never
        names stay free ("put the red cube away" may use any container)."""
        allowed: dict[str, set[str]] = {}
        for resolution in self.resolutions:
            for name in resolution.effective:
                for kind in self.kinds_by_name.get(name, ()):
                    allowed.setdefault(kind, set()).add(name)
        return {kind: frozenset(names) for kind, names in allowed.items()}

    def describe(self) -> str:
        parts = []
        for r in self.resolutions:
            if not r.matches:
                parts.append(f"{r.mention.text!r}: {r.reason}")
            elif r.ambiguous:
                parts.append(f"{r.mention.text!r} is ambiguous: {', '.join(r.matches)}"
                             + (f" (the LM chose {r.chosen})" if r.chosen else ""))
            else:
                parts.append(f"{r.mention.text!r} -> {', '.join(r.matches)}")
        return "; ".join(parts) if parts else "no object named"


class Grounder:
    """Resolves mentions against objects (colour exact, noun by embedding similarity)."""

    def __init__(self, embedder: TextEmbedder | None, threshold: float = NOUN_THRESHOLD,
                 margin: float = NOUN_MARGIN) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.margin = margin

    def noun_similarity(self, noun: str, object_nouns: Sequence[str]) -> np.ndarray:
        """Cosine of the mention's noun to each object noun; 1 for the same word or a synonym
        of it, also as the head of a compound ("traffic cone")."""
        forms = _singulars(noun) | _singulars(noun.split()[-1])
        exact = np.array([1.0 if forms & {n, *SHAPE_SYNONYMS.get(n, ())} else 0.0
                          for n in object_nouns])
        if self.embedder is None or exact.all():
            return exact
        glosses = [f"a {' '.join((n, *SHAPE_SYNONYMS.get(n, ())))}" for n in object_nouns]
        lemma = min(_singulars(noun), key=len) if noun not in SHAPE_SYNONYMS else noun
        vectors = self.embedder.embed([f"a {lemma}", *glosses])
        return np.maximum(exact, vectors[1:] @ vectors[0])

    def ground(self, instruction: str, objects: Sequence[ObjectRef],
               destination_kinds: Iterable[str] | None = None) -> Grounding:
        """destination_kinds: the kinds any skill takes where something goes (a container for
        `place`); a destination mention matching only other kinds cannot be acted on."""
        dest_kinds = None if destination_kinds is None else frozenset(destination_kinds)
        resolutions = tuple(self._resolve(m, objects, dest_kinds)
                            for m in parse_mentions(instruction))
        return Grounding(instruction, resolutions, {o.name: o.kinds for o in objects},
                         {o.name: o.description for o in objects})

    def _resolve(self, mention: Mention, objects: Sequence[ObjectRef],
                 dest_kinds: frozenset[str] | None) -> Resolution:
        described = [(o, *object_words(o)) for o in objects]
        if mention.colour is not None:
            described = [d for d in described if mention.colour in d[1]]
        if not described:
            return Resolution(mention, (), f"no {mention.colour} object in the scene")
        if mention.generic:
            scored = [(1.0, o) for o, _, _ in described]
        else:
            similarity = self.noun_similarity(mention.noun, [noun for _, _, noun in described])
            scored = [(float(s), o) for s, (o, _, _) in zip(similarity, described, strict=True)
                      if s >= self.threshold]
            if not scored:
                seen = ", ".join(sorted(o.description for o, _, _ in described))
                return Resolution(mention, (), f"nothing in the scene is a {mention.noun} "
                                               f"(seen: {seen})")
        if mention.destination and dest_kinds is not None:
            fitting = [(s, o) for s, o in scored if o.kinds & dest_kinds]
            if not fitting:
                return Resolution(mention, (), "no skill can put anything there "
                                               f"(skills take: {', '.join(sorted(dest_kinds))})")
            scored = fitting
        best = max(s for s, _ in scored)
        kept = sorted(((s, o) for s, o in scored if s >= best - self.margin),
                      key=lambda so: (-so[0], so[1].name))
        return Resolution(mention, tuple(o.name for _, o in kept))


@dataclass(frozen=True)
class DenyList:
    """Skills (exact names) and objects (names or fnmatch patterns, "red_*") never to use."""

    skills: frozenset[str] = frozenset()
    objects: tuple[str, ...] = ()

    @classmethod
    def from_lists(cls, skills: Iterable[str] = (), objects: Iterable[str] = ()) -> DenyList:
        clean = [s.strip() for s in skills if isinstance(s, str) and s.strip()]
        patterns = [o.strip() for o in objects if isinstance(o, str) and o.strip()]
        return cls(frozenset(clean), tuple(patterns))

    def denies_object(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.objects)

    def denies(self, candidate: Candidate) -> bool:
        if candidate.is_done:
            return False
        return candidate.skill in self.skills or any(
            self.denies_object(name) for name in candidate.args.values())


def disambiguate(grounding: Grounding, score: Callable[[str, list[str]], list[float]],
                 deny: DenyList | None = None) -> Grounding:
    """Narrow each ambiguous mention to one object: the allowed match whose words the language
    model finds likeliest after 'In this task, "<mention>" means the'. score(prompt, texts)
    returns log p(text | prompt) (a ScoringBackend's `score`)."""
    deny = deny or DenyList()
    resolutions = []
    for r in grounding.resolutions:
        allowed = [n for n in r.matches if not deny.denies_object(n)]
        if r.ambiguous and len(allowed) == 1:
            r = replace(r, chosen=allowed[0])
        elif r.ambiguous and len(allowed) > 1:
            prompt = (f"Task: {clean_instruction(grounding.instruction)}.\n"
                      f'In this task, "{r.mention.text}" means the')
            scores = score(prompt, [" " + grounding.words_by_name[n] for n in allowed])
            ranked = sorted(zip(allowed, scores, strict=True), key=lambda ns: -ns[1])
            r = replace(r, chosen=ranked[0][0],
                        lm_scores=tuple((n, round(float(v), 3)) for n, v in ranked))
        resolutions.append(r)
    return replace(grounding, resolutions=tuple(resolutions))


@dataclass(frozen=True)
class TaskScope:
    """What one task may touch: the grounded objects minus the deny-list."""

    grounding: Grounding | None = None
    deny: DenyList = DenyList()
    late_kinds: dict[str, frozenset[str]] = field(default_factory=dict)  # seen after grounding
    admitted: set[str] = field(default_factory=set)

    def admit(self, objects: Sequence[ObjectRef]) -> None:
        """Take note of objects perception reports after grounding. One is allowed when a
        mention of its colour named an object of its kind: perception keeps colours stable
        while a held, half-occluded cube may be re-described ("red box"), but a distractor
        seen anew (the yellow cube taken for a "yellow ball") stays out."""
        if self.grounding is None:
            return
        for obj in objects:
            if obj.name in self.grounding.kinds_by_name or obj.name in self.late_kinds:
                continue
            self.late_kinds[obj.name] = obj.kinds
            colours, _ = object_words(obj)
            for r in self.grounding.resolutions:
                same_kind = any(self.grounding.kinds_by_name.get(n, frozenset()) & obj.kinds
                                for n in r.effective)
                if same_kind and (r.mention.colour is None or r.mention.colour in colours):
                    self.admitted.add(obj.name)
                    break

    def lm_instruction(self, instruction: str) -> str:
        return instruction if self.grounding is None else self.grounding.lm_instruction()

    def infeasible_reason(self) -> str | None:
        """Why the task cannot be done at all in this scene, or None."""
        if self.grounding is None:
            return None
        for r in self.grounding.unresolved:
            return f"{r.mention.text!r}: {r.reason}"
        for r in self.grounding.resolutions:
            if all(self.deny.denies_object(name) for name in r.effective):
                return f"{r.mention.text!r} refers only to denied objects ({', '.join(r.matches)})"
        return None

    def allows_object(self, name: str) -> bool:
        """The task may touch this object: not denied, and named by the instruction (or of a
        kind it never names, or admitted after grounding)."""
        if self.deny.denies_object(name):
            return False
        if self.grounding is None or name in self.admitted:
            return True
        restricted = self.grounding.restricted_kinds()
        kinds = self.grounding.kinds_by_name.get(name) or self.late_kinds.get(name)
        if kinds is None:
            return not restricted  # never described to us: only in an unnamed world
        return all(name in restricted[k] for k in kinds if k in restricted)

    def allows(self, candidate: Candidate) -> bool:
        if candidate.is_done:
            return True
        if candidate.skill in self.deny.skills:
            return False
        if not all(self.allows_object(name) for name in candidate.args.values()):
            return False
        return self.keeps_destinations(candidate) and self.keeps_pairs(set(candidate.args.values()))

    def keeps_destinations(self, candidate: Candidate) -> bool:
        """When the instruction names where things go, a skill's destination (its arguments
        after the first) is one of those places: with a stacking skill, "put the red cube and
        the green cube in the blue bin" must not stack one cube on the other."""
        if self.grounding is None:
            return True
        named = self.grounding.named_destinations()
        return not named or all(name in named for name in list(candidate.args.values())[1:])

    def keeps_pairs(self, names: set[str]) -> bool:
        """No object goes to a named place the instruction gave to another one (a 135M LM
        put the red cube in the last-named bin whatever the instruction said)."""
        if self.grounding is None:
            return True
        pairs = self.grounding.destinations_by_object()
        places = set().union(*pairs.values()) if pairs else set()
        return all(not (places & names) or bool(pairs[name] & names)
                   for name in names if name in pairs)

    def filter(self, candidates: Sequence[Candidate], affordances: Sequence[float]
               ) -> tuple[list[Candidate], list[float]]:
        kept = [(c, a) for c, a in zip(candidates, affordances, strict=True) if self.allows(c)]
        return [c for c, _ in kept], [a for _, a in kept]

    def report(self, chosen: Sequence[Candidate] = ()) -> str:
        """Grounding notes for the task result: ambiguous mentions and what the LM chose."""
        if self.grounding is None:
            return ""
        notes = []
        used = [name for c in chosen for name in c.args.values()]
        for r in self.grounding.ambiguous:
            picked = [n for n in dict.fromkeys(used) if n in r.matches] or list(r.effective)
            scores = ", ".join(f"{n} {v:.2f}" for n, v in r.lm_scores)
            notes.append(f"{r.mention.text!r} was ambiguous ({', '.join(r.matches)}); "
                         f"chosen by the language model: {', '.join(picked)}"
                         + (f" (log p: {scores})" if scores else ""))
        return "; ".join(notes)


def check_call(candidate: Candidate, skills: Sequence, objects: Sequence[ObjectRef]) -> str | None:
    """Why `candidate` must not run now (unknown skill, wrong arguments, object gone or of the
    wrong kind), or None. `skills` are SkillSpecs of the registry's current skills."""
    if candidate.is_done:
        return None
    spec = next((s for s in skills if s.name == candidate.skill), None)
    if spec is None:
        return f"skill {candidate.skill!r} is not registered"
    if set(candidate.args) != set(spec.arg_kinds):
        return f"{candidate.skill} takes {sorted(spec.arg_kinds)}, got {sorted(candidate.args)}"
    by_name = {o.name: o for o in objects}
    for slot, name in candidate.args.items():
        obj = by_name.get(name)
        if obj is None:
            return f"{name!r} is not in the scene"
        if spec.arg_kinds[slot] != "any" and spec.arg_kinds[slot] not in obj.kinds:
            return f"{name!r} is not a {spec.arg_kinds[slot]} ({candidate.skill}.{slot})"
    return None
