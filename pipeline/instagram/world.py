"""A seeded, simulated Instagram: people, fake accounts and spam around a few seed accounts.

No machine here reaches Instagram, so every number this project reports is measured on this world.
It is drawn from per-class aggregates of 969 real, hand-labelled profiles (``calibration.json``, carried
in the package): each count or length comes from that class's quantile function, and a Gaussian copula
makes the numbers move together as they do on real profiles. One latent "activity" factor per profile
ties posts, tags and followers (busy accounts post, get tagged and are followed more); a "reciprocity"
factor ties follower and following counts, which is what makes the follower/following ratio separate
the person's labels so well (ROC AUC 0.976 on the real sample, about 0.95 here). The copula works on
ranks, so every marginal is the calibrated one exactly, not up to the noise of a few hundred draws.

The calibration describes what a person labelled, not the truth. So each profile is drawn from its
*label's* class, and the annotator model is read backwards to find the truth behind the label: a set
share of plain mistakes, and profiles labelled authentic that a person cannot really judge (few posts,
no highlights, following more than followed) that are, half the time, polished fakes the person was
unsure of and, as the article did, called authentic. Ground truth and the kind of account (person,
creator, business; farm, spam, polished fake) are kept per profile.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

import numpy as np

from pipeline.core.vocabulary import AUTHENTIC, CLASSES, FAKE

# The calibration file's word for the class this project calls FAKE.
_CALIBRATION_CLASS = {AUTHENTIC: "authentic", FAKE: "not_authentic"}
# Fewer posts than this, and a person labelling the profile has little to go on.
UNSURE_MEDIA = 30
# Copula loadings of follower and following counts on "activity" and on "reciprocity", per class.
FOLLOWER_ACTIVITY = {AUTHENTIC: 0.6, FAKE: 0.6}
FOLLOWING_ACTIVITY = {AUTHENTIC: 0.3, FAKE: 0.6}
FOLLOW_TIE = {AUTHENTIC: (0.5, 0.7), FAKE: (0.5, 0.5)}
_VOWELS = "aeiouy"
_CONSONANTS = "bcdfghjklmnprstvwz"
_EMOJI = "✨🔥💯📸🌍❤️💰🚀👑🎁"
_SPAM_PHRASES = (
    "DM for promo", "free followers", "click the link", "earn $500 a day", "crypto signals",
    "giveaway", "best prices", "shop now", "collab?", "follow for follow",
)
_BIO_WORDS = (
    "coffee", "travel", "photography", "berlin", "music", "mom", "dad", "runner", "design", "student",
    "books", "climbing", "food", "architect", "nurse", "teacher", "vegan", "dogs", "film", "yoga",
)


@dataclass(frozen=True)
class Profile:
    """One simulated account: its API record, its ground truth and the annotator's decision."""

    user: dict[str, Any]
    truth: str  # AUTHENTIC or FAKE
    kind: str  # person, creator, business (authentic); farm, spam or polished (fake)
    label: str  # what the annotator decided: AUTHENTIC or FAKE
    unsure: bool  # the annotator could not tell and, like the article, said authentic

    @property
    def pk(self) -> int:
        return int(self.user["pk"])

    def short(self) -> dict[str, Any]:
        """The short record that follower/following lists carry."""
        keys = ("pk", "username", "full_name", "is_private", "is_verified",
                "has_anonymous_profile_picture", "profile_pic_url")
        return {k: self.user[k] for k in keys}


@dataclass(frozen=True)
class Seed:
    """A seed account and the pks that follow it / that it follows, newest first."""

    user: dict[str, Any]
    followers: tuple[int, ...]
    following: tuple[int, ...]


def load_calibration() -> dict[str, Any]:
    """The per-class aggregates the world is drawn from (fractions and quantiles, no records), by class."""
    text = resources.files("pipeline.instagram").joinpath("calibration.json").read_text(encoding="utf-8")
    classes = json.loads(text)["classes"]
    return {cls: classes[_CALIBRATION_CLASS[cls]] for cls in CLASSES}


def quantile_function(stats: dict[str, float], zero_frac: float | None = None):
    """Piecewise-linear inverse CDF in log1p space through min, p10 … p99, max.

    ``zero_frac`` pins the mass at exactly zero (e.g. empty biographies), which the quantiles alone
    only bound to a knot.
    """
    qs = [0.0, 0.10, 0.25, 0.50, 0.75, 0.90, 0.99, 1.0]
    vs = [stats[k] for k in ("min", "p10", "p25", "p50", "p75", "p90", "p99", "max")]
    if zero_frac is not None and zero_frac > 0:
        knots = [(0.0, 0.0), (zero_frac, 0.0)]
        knots += [(q, v) for q, v in zip(qs, vs, strict=True) if q > zero_frac and v > 0]
        qs, vs = [k[0] for k in knots], [k[1] for k in knots]
    xs = np.array(qs)
    ys = np.log1p(np.maximum.accumulate(np.array(vs, dtype=float)))

    def inverse(u: np.ndarray) -> np.ndarray:
        value = np.rint(np.expm1(np.interp(u, xs, ys)))
        if zero_frac:
            value = np.where(u <= zero_frac, 0.0, np.maximum(value, 1.0))
        return value.astype(np.int64)

    return inverse


class World:
    """The whole simulated Instagram, a pure function of its parameters."""

    def __init__(self, seed: int, seed_usernames: tuple[str, ...], accounts_per_seed: int,
                 mistake_rate: float, authentic_share: float | None = None, followers_only: bool = False) -> None:
        """``authentic_share``: each profile is labelled authentic with this probability; None: with the
        calibration's share (the default crawl's world). ``followers_only``: every profile follows the seed
        account(s) (an audited account's world, see :func:`audit_world`), instead of the calibration's
        follow graph (followers, followed and both)."""
        self.seed = seed
        self.seed_usernames = tuple(seed_usernames)
        self.accounts_per_seed = accounts_per_seed
        self.mistake_rate = mistake_rate
        self.authentic_share = authentic_share
        self.followers_only = followers_only
        self.calibration = load_calibration()

    @cached_property
    def _built(self) -> tuple[dict[int, Profile], dict[str, Seed]]:
        return self._build()

    @property
    def profiles(self) -> dict[int, Profile]:
        """Every non-seed account by pk."""
        return self._built[0]

    @property
    def seeds(self) -> dict[str, Seed]:
        """The seed accounts by username."""
        return self._built[1]

    def user(self, pk: int) -> dict[str, Any] | None:
        if pk in self.profiles:
            return self.profiles[pk].user
        for seed in self.seeds.values():
            if seed.user["pk"] == pk:
                return seed.user
        return None

    def fingerprint(self) -> str:
        """A hash of everything the world serves: equal fingerprints, equal API answers."""
        served = {"profiles": [self.profiles[pk].user for pk in sorted(self.profiles)],
                  "seeds": [[s.user, s.followers, s.following] for _, s in sorted(self.seeds.items())]}
        return hashlib.sha256(json.dumps(served, sort_keys=True).encode()).hexdigest()

    def shares(self, username: str) -> dict[str, float]:
        """The share of ``username``'s followers labelled authentic (what a person would decide, and what
        the models learn) and truly authentic (the annotator's blind spots included)."""
        followers = self.seeds[username].followers
        n = max(len(followers), 1)
        return {"labelled": sum(self.profiles[p].label == AUTHENTIC for p in followers) / n,
                "truth": sum(self.profiles[p].truth == AUTHENTIC for p in followers) / n}

    def labels(self) -> dict[int, str]:
        """The annotator's decision for every profile."""
        return {pk: p.label for pk, p in self.profiles.items()}

    # -- generation ---------------------------------------------------------------------------------

    def _build(self) -> tuple[dict[int, Profile], dict[str, Seed]]:
        rng = np.random.default_rng(self.seed)
        n_seeds = len(self.seed_usernames)
        n = self.accounts_per_seed * n_seeds
        pks = 10**9 + rng.choice(9 * 10**9, size=n + n_seeds, replace=False)
        seed_pks, pks = pks[:n_seeds], pks[n_seeds:]
        cal = self.calibration
        p_auth = cal[AUTHENTIC]["n"] / (cal[AUTHENTIC]["n"] + cal[FAKE]["n"])
        if self.authentic_share is not None:
            p_auth = self.authentic_share
        # The calibration describes the person's labels, not the truth: draw each profile's look from
        # its label's class, then ask what the truth behind such a label was (see _truth_behind).
        label = np.where(rng.random(n) < p_auth, AUTHENTIC, FAKE)

        profiles: dict[int, Profile] = {}
        relationships: list[str] = [""] * n
        columns: dict[str, np.ndarray] = {}
        for cls in CLASSES:
            idx = np.flatnonzero(label == cls)
            drawn = self._draw_class(rng, cls, len(idx))
            for key, values in drawn.items():
                columns.setdefault(key, np.empty(n, dtype=values.dtype))[idx] = values
        for i in range(n):
            relationships[i] = str(columns["relationship"][i])
            values = {k: v[i] for k, v in columns.items()}
            truth, unsure = self._truth_behind(rng, str(label[i]), values)
            user, kind = self._record(rng, int(pks[i]), truth, unsure, values)
            profiles[int(pks[i])] = Profile(user=user, truth=truth, kind=kind, label=str(label[i]), unsure=unsure)

        seeds: dict[str, Seed] = {}
        order = rng.permutation(n)  # follow time: newest first, mixed across classes
        for s, username in enumerate(self.seed_usernames):
            mine = [i for i in order if i % n_seeds == s]
            followers = tuple(int(pks[i]) for i in mine if relationships[i] in ("fans", "mutual")
                              or self.followers_only)
            following = tuple(int(pks[i]) for i in mine if relationships[i] in ("mutual", "unrequited"))
            user = self._seed_record(int(seed_pks[s]), username, len(followers), len(following))
            seeds[username] = Seed(user=user, followers=followers, following=following)
        return profiles, seeds

    def _draw_class(self, rng: np.random.Generator, cls: str, n: int) -> dict[str, np.ndarray]:
        """Draw n profiles' numbers from class ``cls``'s calibrated marginals, tied by a copula."""
        cal = self.calibration[cls]
        q = cal["quantiles"]
        activity = rng.standard_normal(n)
        # Who follows back: accounts that follow many are followed by many (people) or by nobody in
        # particular (farms). It ties follower and following counts, which is why the person's labels
        # follow the follower/following ratio so closely (ROC AUC 0.976 on the real sample).
        reciprocity = rng.standard_normal(n)

        def uniform(loading: float, follow: float = 0.0) -> np.ndarray:
            noise = np.sqrt(max(1 - loading**2 - follow**2, 0.0))
            z = loading * activity + follow * reciprocity + noise * rng.standard_normal(n)
            # Ranks, not the normal CDF: the same dependence, but each marginal is the calibrated one
            # exactly rather than up to sampling noise (a few hundred draws per class would miss it by
            # several points).
            return (np.argsort(np.argsort(z, kind="stable"), kind="stable") + 0.5) / max(n, 1)

        def draw_bool(name: str, loading: float = 0.0) -> np.ndarray:
            return uniform(loading) < cal[name]["frac"]

        def draw_choice(name: str) -> np.ndarray:
            shares = cal[name]
            keys = list(shares)
            probs = np.array([shares[k]["frac"] for k in keys])
            edges = np.cumsum(probs / probs.sum())
            return np.array(keys)[np.minimum(np.searchsorted(edges, uniform(0.0), side="right"), len(keys) - 1)]

        # Busier accounts have more followers, posts and tags; for fakes "activity" is how hard the
        # farm works them, so following rises with it instead.
        following_loading = FOLLOWING_ACTIVITY[cls]
        follow = FOLLOW_TIE[cls]
        return {
            "follower_count": quantile_function(q["follower_count"])(uniform(FOLLOWER_ACTIVITY[cls], follow[0])),
            "following_count": np.maximum(1, quantile_function(q["following_count"])(
                uniform(following_loading, follow[1]))),
            "media_count": quantile_function(q["media_count"], cal["media_zero"]["frac"])(uniform(0.7)),
            "usertags_count": quantile_function(q["usertags_count"])(uniform(0.6)),
            "following_tag_count": quantile_function(q["following_tag_count"])(uniform(0.3)),
            "biography_len": quantile_function(q["biography_len_chars"], cal["biography_empty"]["frac"])(
                uniform(0.4)),
            "full_name_len": quantile_function(q["full_name_len_chars"], cal["full_name_empty"]["frac"])(
                uniform(0.2)),
            "username_len": quantile_function(q["username_len_chars"])(uniform(0.0)),
            "username_digits": quantile_function(q["username_digits"])(uniform(0.0)),
            "is_private": draw_bool("is_private", -0.3),
            "is_verified": draw_bool("is_verified", -0.9),
            "has_anonymous_profile_picture": draw_bool("has_anonymous_profile_picture", 0.5),
            "external_url": draw_bool("external_url_nonempty", -0.5),
            "has_highlight_reels": draw_bool("has_highlight_reels", -0.6),
            "is_potential_business": draw_bool("is_potential_business", -0.4),
            "reel_auto_archive": draw_choice("reel_auto_archive"),
            "username_regex_type": draw_choice("username_regex_type"),
            "relationship": draw_choice("relationship"),
        }

    def _record(self, rng: np.random.Generator, pk: int, truth: str, unsure: bool,
                v: dict[str, Any]) -> tuple[dict, str]:
        if unsure:
            kind = "polished"  # a fake dressed as a person: a person's bio and name, nothing spammy
        elif truth == AUTHENTIC:
            kind = "business" if v["is_potential_business"] else (
                "creator" if v["follower_count"] > 10_000 else "person")
        else:
            kind = "spam" if (v["external_url"] or v["biography_len"] > 40) else "farm"
        username = _username(rng, str(v["username_regex_type"]), int(v["username_len"]),
                             int(v["username_digits"]))
        full_name = _full_name(rng, int(v["full_name_len"]), emoji=kind == "spam")
        biography = _biography(rng, int(v["biography_len"]), spam=kind == "spam")
        user = {
            "pk": pk,
            "pk_id": str(pk),
            "username": username,
            "full_name": full_name,
            "biography": biography,
            "external_url": f"https://{username.replace('_', '').replace('.', '')}.example" if v["external_url"]
            else "",
            "follower_count": int(v["follower_count"]),
            "following_count": int(v["following_count"]),
            "following_tag_count": int(v["following_tag_count"]),
            "media_count": int(v["media_count"]),
            "usertags_count": int(v["usertags_count"]),
            "is_private": bool(v["is_private"]),
            "is_verified": bool(v["is_verified"]),
            "has_anonymous_profile_picture": bool(v["has_anonymous_profile_picture"]),
            "profile_pic_url": f"https://scontent.cdninstagram.example/{pk}.jpg",
            "has_highlight_reels": bool(v["has_highlight_reels"]),
            "is_business": kind == "business",
            "is_potential_business": bool(v["is_potential_business"]),
            "account_type": 2 if kind == "business" else (3 if kind == "creator" else 1),
        }
        if v["reel_auto_archive"] != "unset":
            user["reel_auto_archive"] = str(v["reel_auto_archive"])
        return user, kind

    def _truth_behind(self, rng: np.random.Generator, label: str, v: dict[str, Any]) -> tuple[str, bool]:
        """The annotator model, read backwards: given what a person decided, what was true.

        A share ``mistake_rate`` of decisions are plain mistakes (the truth is the other class). Of the
        rest, profiles labelled authentic that a person cannot really judge (few posts, no highlights,
        following more than they are followed) are, half the time, polished fakes the person was unsure
        of and, like the article, called authentic.
        """
        if rng.random() < self.mistake_rate:
            return (FAKE if label == AUTHENTIC else AUTHENTIC), False
        if label == AUTHENTIC:
            hard_to_judge = (v["media_count"] < UNSURE_MEDIA and not v["has_highlight_reels"]
                             and v["follower_count"] < v["following_count"])
            if hard_to_judge and rng.random() < 0.5:
                return FAKE, True
        return label, False

    def _seed_record(self, pk: int, username: str, followers: int, following: int) -> dict[str, Any]:
        return {
            "pk": pk, "pk_id": str(pk), "username": username, "full_name": username.replace(".", " ").title(),
            "biography": "", "external_url": "", "follower_count": followers, "following_count": following,
            "following_tag_count": 0, "media_count": 120, "usertags_count": 10, "is_private": False,
            "is_verified": False, "has_anonymous_profile_picture": False,
            "profile_pic_url": f"https://scontent.cdninstagram.example/{pk}.jpg", "has_highlight_reels": True,
            "is_business": False, "is_potential_business": False, "account_type": 1, "reel_auto_archive": "on",
        }


def audit_world(seed: int, accounts: str | Sequence[str], followers: int, authentic_share: float,
                mistake_rate: float) -> World:
    """Accounts (one username, or several) with ``followers`` followers each, every follower labelled
    authentic with probability ``authentic_share``; no other username exists in this world.

    The followers are drawn exactly as the crawl's profiles are (same calibration, same annotator model),
    so a model trained on the crawl meets them as it would meet real followers; what changes is the mix.
    :meth:`World.shares` gives the realised shares an audit is checked against.
    """
    usernames = (accounts,) if isinstance(accounts, str) else tuple(accounts)
    return World(seed=seed, seed_usernames=usernames, accounts_per_seed=followers, mistake_rate=mistake_rate,
                 authentic_share=authentic_share, followers_only=True)


def _word(rng: np.random.Generator, length: int) -> str:
    letters = [(_CONSONANTS if i % 2 == 0 else _VOWELS)[rng.integers(6 if i % 2 else 18)] for i in range(length)]
    return "".join(letters)


def _username(rng: np.random.Generator, regex_type: str, length: int, digits: int) -> str:
    """A username of the article's regex type (see features.username_type) near the wanted length."""
    length = max(length, 4)
    digits_str = "".join(str(d) for d in rng.integers(0, 10, size=max(digits, 1)))
    letters = max(2, length - len(digits_str) - 1)
    if regex_type == "1":  # letters, a separator, then letters/digits
        head = _word(rng, max(2, letters // 2))
        tail = _word(rng, max(1, letters - len(head)))
        return f"{head}{'._'[rng.integers(2)]}{tail}{digits_str if digits else ''}"
    if regex_type == "2":  # letters then digits, no separator in between
        return f"{_word(rng, letters)}{digits_str}"
    if regex_type == "3":  # letters only (or letters then something types 1/2 do not match)
        return _word(rng, length)
    start = rng.choice(list(string.digits + "_."))  # type 0: starts with neither letters nor a letter run
    return f"{start}{_word(rng, max(2, length - 1))}"


def _full_name(rng: np.random.Generator, length: int, emoji: bool) -> str:
    if length == 0:
        return ""
    parts, size = [], 0
    while size < length:
        part = _word(rng, int(rng.integers(3, 8))).capitalize()
        parts.append(part)
        size += len(part) + 1
    name = " ".join(parts)[:length].strip()
    if emoji and rng.random() < 0.5:
        name += " " + _EMOJI[rng.integers(len(_EMOJI))]
    return name


def _biography(rng: np.random.Generator, length: int, spam: bool) -> str:
    if length == 0:
        return ""
    pool = _SPAM_PHRASES if spam else _BIO_WORDS
    words, size = [], 0
    while size < length:
        word = pool[rng.integers(len(pool))]
        if spam and rng.random() < 0.3:
            word += " " + _EMOJI[rng.integers(len(_EMOJI))]
        words.append(word)
        size += len(word) + 1
    sep = " | " if spam else " "
    return sep.join(words)[: max(length, 1)].strip()
