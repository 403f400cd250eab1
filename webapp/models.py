"""Database tables. One table per concept; every stored row says which model and settings made it.

Game side: `Player`, `StimulusSet`, `Stimulus`, `Round`, `BrushPoint`, `Guess`.
Research side: `Researcher`, `ApiToken`, `Study` (+ `study_stimulus_sets`).

Times are naive UTC `datetime`s (SQLite keeps no time zone; storing UTC everywhere keeps SQLite
and PostgreSQL identical). Deleting a player cascades to their rounds, points and guesses, which
is how a participant's withdrawal removes their data everywhere.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer,
                        LargeBinary, String, Text, UniqueConstraint)
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

# BIGINT on PostgreSQL, but plain INTEGER on SQLite so it stays an auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Current time as naive UTC (the convention for every stored timestamp)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


# --- Game -------------------------------------------------------------------------------------


class Player(db.Model):
    """Someone who plays: anonymous (cookie id) or recruited (e.g. a Prolific participant)."""

    __tablename__ = "player"
    #: not unique: an id seen in a second browser gets an attempt of its own (see
    #: research/participation.py), so nobody can lock an id's owner out by using it first
    __table_args__ = (Index("ix_player_study_external", "study_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: random id kept in the player's signed session cookie; never shown to other players
    public_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    pseudonym: Mapped[str] = mapped_column(String(32), nullable=False)
    #: the pseudonym as a reader tells names apart (case and look-alikes folded,
    #: `services.pseudonyms.pseudonym_key`); unique, so no two players show the same name
    pseudonym_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("study.id", ondelete="SET NULL"), index=True)
    #: recruitment platform ids (Prolific PROLIFIC_PID / STUDY_ID / SESSION_ID)
    external_id: Mapped[str | None] = mapped_column(String(64))
    external_study_id: Mapped[str | None] = mapped_column(String(64))
    external_session_id: Mapped[str | None] = mapped_column(String(64))
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consented_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: salted hash of the client address, for "bursts from one address" quality flags
    address_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    #: researcher decision to leave this participant out of exports
    excluded: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    total_score: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    best_round: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    rounds_played: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    #: set when a recruited participant has finished and their data was confirmed saved
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: SHA-256 of the secret that binds a recruited participant to the browser that started
    #: (the secret itself lives only in that browser's HttpOnly session cookie)
    binding_hash: Mapped[str | None] = mapped_column(String(64), index=True)

    rounds: Mapped[list["Round"]] = relationship(back_populates="player", cascade="all, delete-orphan",
                                                 passive_deletes=True)


class StimulusSet(db.Model):
    """A named collection of drawings, with where it came from and under which licence."""

    __tablename__ = "stimulus_set"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    source: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    stimuli: Mapped[list["Stimulus"]] = relationship(back_populates="stimulus_set",
                                                     cascade="all, delete-orphan")


class Stimulus(db.Model):
    """One drawing: a grayscale PNG (white strokes on black) in its own pixel frame."""

    __tablename__ = "stimulus"
    __table_args__ = (UniqueConstraint("set_id", "key", name="uq_stimulus_set_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("stimulus_set.id", ondelete="CASCADE"), nullable=False,
                                        index=True)
    #: stable name within the set (e.g. "cat-000123"); exports use it as the stimulus id
    key: Mapped[str] = mapped_column(String(128), nullable=False)
    category: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    image_png: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    #: simplified strokes, when the drawing came from strokes (JSON text), else None
    strokes_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    #: rounds of this stimulus that were not abandoned, kept by `services.coverage` in the same
    #: transactions that start, abandon, import or delete rounds; sampling reads it instead of
    #: counting every round ever played on each round start
    play_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    #: the classifier's top-1 guess on the whole drawing, its probability, whether that meets the
    #: game's recognition rule, and the classifier version (`services.recognition`); None = not
    #: checked. The open game never serves a drawing that cannot be won fully revealed.
    full_reveal_label: Mapped[str | None] = mapped_column(String(64))
    full_reveal_p: Mapped[float | None] = mapped_column(Float)
    full_reveal_recognised: Mapped[bool | None] = mapped_column(Boolean)
    full_reveal_model: Mapped[str | None] = mapped_column(String(64))

    stimulus_set: Mapped[StimulusSet] = relationship(back_populates="stimuli")


class Round(db.Model):
    """One attempt by one player on one stimulus. The id is generated by the page (a UUID) so
    that re-sent requests are idempotent."""

    __tablename__ = "round"
    __table_args__ = (Index("ix_round_stimulus_status", "stimulus_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    player_id: Mapped[int] = mapped_column(ForeignKey("player.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    stimulus_id: Mapped[int] = mapped_column(ForeignKey("stimulus.id", ondelete="RESTRICT"), nullable=False)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("study.id", ondelete="SET NULL"), index=True)
    category: Mapped[str] = mapped_column(String(64), nullable=False)
    #: active | recognized | timeout | skipped | abandoned (left by its page, expired by the server)
    status: Mapped[str] = mapped_column(String(16), default="active", nullable=False, index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: server-measured ms from start to end (the authority for points)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    n_points: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    model_version: Mapped[str] = mapped_column(String(80), nullable=False)
    #: timer_ms, brush_fraction, brush_radius_px, recognition_min_prob, width, height ...
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    address_hash: Mapped[str | None] = mapped_column(String(64))
    #: False when the round counts for nothing: its input failed the server's plausibility
    #: checks (`flag_reason` says why) or it was abandoned. Leaderboard totals count credited rounds only.
    credited: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true(), nullable=False)
    #: why the server did not believe the round's input (services/plausibility.py), else None
    flag_reason: Mapped[str | None] = mapped_column(String(255))
    #: pointer path length stored so far, stimulus pixels (for the server-time speed check)
    path_px: Mapped[float] = mapped_column(Float, default=0.0, server_default="0", nullable=False)
    #: points refused because they arrived after the round ended (beyond the grace) or were implausible
    dropped_points: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    #: phone | tablet | desktop, from the page's pointer type and screen size (None: unknown)
    device_class: Mapped[str | None] = mapped_column(String(16))

    player: Mapped[Player] = relationship(back_populates="rounds")
    stimulus: Mapped[Stimulus] = relationship()
    points_rows: Mapped[list["BrushPoint"]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True,
        order_by="BrushPoint.idx")
    guesses: Mapped[list["Guess"]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True,
        order_by="Guess.id")


class BrushPoint(db.Model):
    """One brush point in the stimulus' pixel frame, with the page's time and the server's."""

    __tablename__ = "brush_point"
    __table_args__ = (UniqueConstraint("round_id", "idx", name="uq_brush_point_round_idx"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), nullable=False)
    #: 0-based position of the point in its round (the idempotency key of re-sent batches)
    idx: Mapped[int] = mapped_column(Integer, nullable=False)
    x: Mapped[float] = mapped_column(Float, nullable=False)
    y: Mapped[float] = mapped_column(Float, nullable=False)
    #: ms since the round started, from performance.now() in the page
    t_ms: Mapped[float] = mapped_column(Float, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    round: Mapped[Round] = relationship(back_populates="points_rows")


class Guess(db.Model):
    """The classifier's answer to the revealed image after a batch of points."""

    __tablename__ = "guess"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), nullable=False,
                                          index=True)
    n_points: Mapped[int] = mapped_column(Integer, nullable=False)
    #: server ms since the round started when the guess was made
    server_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    #: t_ms of the last point the guess saw
    client_t_ms: Mapped[float | None] = mapped_column(Float)
    #: [{"label": str, "p": float}] x 5, best first
    top5: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    correct: Mapped[bool] = mapped_column(Boolean, nullable=False)
    model_version: Mapped[str] = mapped_column(String(80), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    round: Mapped[Round] = relationship(back_populates="guesses")


# --- Research ---------------------------------------------------------------------------------

#: researchers a study's owner shares it with: they see and export its data like the owner
study_collaborators = db.Table(
    "study_collaborator",
    db.Column("study_id", ForeignKey("study.id", ondelete="CASCADE"), primary_key=True),
    db.Column("researcher_id", ForeignKey("researcher.id", ondelete="CASCADE"), primary_key=True),
)

study_stimulus_sets = db.Table(
    "study_stimulus_set",
    db.Column("study_id", ForeignKey("study.id", ondelete="CASCADE"), primary_key=True),
    db.Column("set_id", ForeignKey("stimulus_set.id", ondelete="CASCADE"), primary_key=True),
)


class Researcher(db.Model):
    """A researcher account (password stored as a salted hash)."""

    __tablename__ = "researcher"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    #: sessions remember the epoch they were opened in; logout and password changes bump it,
    #: which ends every session of the account at once
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)

    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="researcher", cascade="all, delete-orphan")


class ApiToken(db.Model):
    """A revocable bearer token for scripted exports; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    researcher_id: Mapped[int] = mapped_column(ForeignKey("researcher.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: what the token may read (`research.auth.TOKEN_SCOPES`); tokens never write
    scope: Mapped[str] = mapped_column(String(16), default="export", server_default="export",
                                       nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    researcher: Mapped[Researcher] = relationship(back_populates="tokens")


class Study(db.Model):
    """A stimulus selection plus settings, run publicly or with recruited participants."""

    __tablename__ = "study"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    #: "public" (open game with leaderboard) or "prolific" (recruited, fixed number of rounds)
    mode: Mapped[str] = mapped_column(String(16), default="public", nullable=False)
    #: timer_ms, brush_fraction, rounds_per_participant, target_rounds_per_stimulus, n_stimuli,
    #: address_burst_per_hour (webapp/research/studies.py)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    completion_url: Mapped[str | None] = mapped_column(String(512))
    consent_version: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    #: the study's owner: they, its collaborators and administrators see its data (None: made on
    #: the command line without --owner, administrators only)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("researcher.id", ondelete="SET NULL"))

    stimulus_sets: Mapped[list[StimulusSet]] = relationship(secondary=study_stimulus_sets)
    owner: Mapped[Researcher | None] = relationship(foreign_keys=[created_by])
    collaborators: Mapped[list[Researcher]] = relationship(secondary=study_collaborators)
