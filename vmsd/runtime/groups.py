"""The daemon's started component groups, as one start stage hands them to the next (and to
the apps and the supervised components built from them): the core, the media side, the
recording side."""

from __future__ import annotations

from dataclasses import dataclass

from vmsd.access.accounts import Accounts
from vmsd.access.audit_log import AuditLog
from vmsd.access.grants import Grants
from vmsd.access.tokens import TokenRegistry
from vmsd.events.bus import EventBus
from vmsd.events.history import EventHistory
from vmsd.events.webhooks import WebhookNotifier
from vmsd.mediamtx.controller import MediaMtxController
from vmsd.recorder.prober import StreamProber
from vmsd.recorder.snapshot import Snapshots
from vmsd.runtime.database import Database
from vmsd.runtime.wiring import CameraParts, RecordingParts
from vmsd.store.tokens import TokenStore
from vmsd.system.sampler import SystemSampler


@dataclass(frozen=True, slots=True)
class CoreGroup:
    database: Database
    events: EventBus
    webhooks: WebhookNotifier
    history: EventHistory
    token_store: TokenStore
    tokens: TokenRegistry
    audit: AuditLog
    accounts: Accounts


@dataclass(frozen=True, slots=True)
class MediaGroup:
    cameras: CameraParts
    mediamtx: MediaMtxController
    grants: Grants  # the reader grants the auth endpoint checks
    live_grants: Grants  # the live view's (WHEP proxy's) grants, checked there too


@dataclass(frozen=True, slots=True)
class RecordingGroup:
    parts: RecordingParts
    snapshots: Snapshots
    sampler: SystemSampler
    probes: StreamProber
