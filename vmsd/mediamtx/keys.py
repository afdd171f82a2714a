"""The mediamtx.yml keys MediaMTX v1.9.0 .. v1.20.1 accept, with the version each appeared in.

MediaMTX decodes its YAML with unknown fields disallowed: one unknown key and it refuses
the file (and on a hot reload it shuts down). These tables are what `schema.py` checks
against. Pure data, no I/O.

Where the tables come from (bluenviron/mediamtx unless said otherwise):

* Baseline for v1.9.0: `internal/conf/conf.go` (stored version id 2212991342, the v1.9-era
  `Conf` struct: `authJWTClaimKey` and `rtspAuthMethods` present, `protocols`/`encryption`
  not yet renamed) and `internal/conf/path.go` (id 2214490202, the v1.8/v1.9-era `Path`).
* Middle: `internal/conf/path.go` id 1536167208 (v1.11/v1.12 era), `internal/conf/conf.go`
  id 1850892384 (v1.12 era), top-level `mediamtx.yml` commit 003b535f (v1.15/v1.16 era).
* v1.20.1: no upstream file tagged v1.20.1 is in the index. Used instead: the Go-module fork
  SoundarTech/mediamtx `internal/conf/conf.go` and `internal/conf/path.go` at commit
  5d495b98 (published as v1.20.1-soundar.7). Every key it has beyond the v1.9-era tree is
  backed below by an upstream pull request that adds it, so no fork-only key is listed.
  Upstream conf.go commit 0036e98f (an unreleased SRTLA branch) was *not* used: it has
  `srtla*` keys that no release has.
* Version boundaries: the bluenviron/mediamtx pull request that added each key, with its
  date, placed against release dates (v1.12.0 2025-04-14, v1.13.0 2025-07-07,
  v1.14.0 2025-08-12, v1.17.0 2026-03-17, v1.19.3 after 2026-07-18) and issues where users
  report a version, and release publication dates from microsoft/winget-pkgs pull requests
  (v1.18.2 2026-05-15, v1.19.0 2026-06-02, v1.19.1 2026-06-10, v1.19.2 2026-06-28,
  v1.19.3 2026-07-23). Each entry below cites its PR.

Conservative rule (what MediaMTX would reject is worse than what vmsd declines to write):
where the release that first shipped a key could not be pinned, `first` is the earliest
release it is *known* to be in, which may be later than the real one. One exception: the
MoQ server's `moq` switch and first address keys are set to the earliest release the
evidence points to (v1.19.0), because leaving `moq: no` out of a file for a release that has
MoQ opens it on every interface (`listeners.py`). Not verified against a
tagged tree, and therefore possibly too late: every `first` after v1.9.0, except the
v1.11.0 RTSP renames (a user report names that release) and the v1.19.3 hooks (the
project's MediaMTX reference, consistent with PRs #5956/#5957 of 2026-07-18);
`authJWTClaimKey`/`rtspAuthMethods` (in the v1.9-era tree, but PR #3692 was merged about
when v1.9.0 was tagged, so they are set to v1.9.1 and v1.9.0 gets `authMethods`).
`deprecated` is the earliest release *seen* warning about the key; it may be earlier.
No key accepted by v1.9.0 is known to be rejected by v1.20.1 (MediaMTX keeps deprecated
keys), so every `last` is None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

Version = tuple[int, int, int]

OLDEST_SUPPORTED: Final[Version] = (1, 9, 0)
LATEST_SUPPORTED: Final[Version] = (1, 20, 1)


@dataclass(frozen=True, slots=True)
class KeySpan:
    """Releases that accept one key: `first` .. `last` (None: still accepted by the latest)."""

    first: Version
    last: Version | None = None
    deprecated: Version | None = None
    replaced_by: str | None = None

    def accepted_in(self, version: Version) -> bool:
        return self.first <= version and (self.last is None or version <= self.last)


def format_version(version: Version) -> str:
    return "v{}.{}.{}".format(*version)


def _since(first: Version, *keys: str) -> dict[str, KeySpan]:
    return {key: KeySpan(first) for key in keys}


def _deprecated(
    first: Version, deprecated: Version, renames: Mapping[str, str | None]
) -> dict[str, KeySpan]:
    return {
        key: KeySpan(first, deprecated=deprecated, replaced_by=new)
        for key, new in renames.items()
    }


V1_9_0: Final[Version] = (1, 9, 0)
_HTTP_SERVERS = ("api", "metrics", "pprof", "playback")

GLOBAL_KEYS: Final[Mapping[str, KeySpan]] = MappingProxyType(
    {
        # -- present in the v1.9-era Conf struct --------------------------------------------
        **_since(
            V1_9_0,
            "logLevel", "logDestinations", "logFile", "readTimeout", "writeTimeout",
            "writeQueueSize", "udpMaxPayloadSize", "runOnConnect", "runOnConnectRestart",
            "runOnDisconnect",
            "authMethod", "authInternalUsers", "authHTTPAddress", "authHTTPExclude",
            "authJWTJWKS",
            *(f"{s}{suffix}" for s in _HTTP_SERVERS for suffix in (
                "", "Address", "Encryption", "ServerKey", "ServerCert", "TrustedProxies")),
            "rtsp", "rtspAddress", "rtspsAddress", "rtpAddress", "rtcpAddress",
            "multicastIPRange", "multicastRTPPort", "multicastRTCPPort",
            "rtmp", "rtmpAddress", "rtmpEncryption", "rtmpsAddress", "rtmpServerKey",
            "rtmpServerCert",
            "hls", "hlsAddress", "hlsEncryption", "hlsServerKey", "hlsServerCert",
            "hlsTrustedProxies", "hlsAlwaysRemux", "hlsVariant", "hlsSegmentCount",
            "hlsSegmentDuration", "hlsPartDuration", "hlsSegmentMaxSize", "hlsDirectory",
            "hlsMuxerCloseAfter",
            "webrtc", "webrtcAddress", "webrtcEncryption", "webrtcServerKey",
            "webrtcServerCert", "webrtcTrustedProxies", "webrtcLocalUDPAddress",
            "webrtcLocalTCPAddress", "webrtcIPsFromInterfaces", "webrtcIPsFromInterfacesList",
            "webrtcAdditionalHosts", "webrtcICEServers2", "webrtcHandshakeTimeout",
            "webrtcTrackGatherTimeout",
            "srt", "srtAddress",
            "pathDefaults", "paths",
        ),
        # Already deprecated in v1.9.0, still accepted (with a warning) by v1.20.1.
        **_deprecated(V1_9_0, V1_9_0, {
            "readBufferCount": "writeQueueSize",
            "externalAuthenticationURL": "authHTTPAddress",
            "rtspDisable": "rtsp", "rtmpDisable": "rtmp", "hlsDisable": "hls",
            "webrtcDisable": "webrtc",
            "webrtcICEUDPMuxAddress": "webrtcLocalUDPAddress",
            "webrtcICETCPMuxAddress": "webrtcLocalTCPAddress",
            "webrtcICEHostNAT1To1IPs": "webrtcAdditionalHosts",
            "webrtcICEServers": "webrtcICEServers2",
            # Global record* moved to pathDefaults before v1.9.0.
            "record": None, "recordPath": None, "recordFormat": None,
            "recordPartDuration": None, "recordSegmentDuration": None,
            "recordDeleteAfter": None,
        }),
        # PR #3692 (JWT claim key) and the authMethods -> rtspAuthMethods rename are in the
        # v1.9-era tree, but whether v1.9.0 itself had them is unverified: v1.9.1.
        **_since((1, 9, 1), "authJWTClaimKey", "rtspAuthMethods"),
        **_deprecated(V1_9_0, (1, 9, 1), {"authMethods": "rtspAuthMethods"}),
        # PR #4078 (Dec 2024): RTSP keys renamed; "as of 1.11.0 some option names changed".
        **_since((1, 11, 0), "rtspTransports", "rtspEncryption", "rtspServerKey",
                 "rtspServerCert"),
        **_deprecated(V1_9_0, (1, 11, 0), {
            "protocols": "rtspTransports", "encryption": "rtspEncryption",
            "serverKey": "rtspServerKey", "serverCert": "rtspServerCert",
        }),
        # PR #4221, merged 2025-02-07.
        **_since((1, 12, 0), "webrtcSTUNGatherTimeout"),
        # PR #3431 merged 2025-04-25, PRs #4514/#4518 2025-05-10 (after v1.12.0).
        **_since((1, 13, 0), "authJWTExclude", "authJWTJWKSFingerprint"),
        **_deprecated((1, 13, 0), LATEST_SUPPORTED, {"authJWTInHTTPQuery": None}),
        # SRTP/SRTCP listeners: v1.13.0 release notes (UDP encryption).
        **_since((1, 13, 0), "srtpAddress", "srtcpAddress", "multicastSRTPPort",
                 "multicastSRTCPPort"),
        # PR #4846 2025-08-10 (v1.14.0 notes name it); replaced by udpReadBufferSize.
        **_deprecated((1, 14, 0), LATEST_SUPPORTED,
                      {"rtspUDPReadBufferSize": "udpReadBufferSize"}),
        # PR #5129 2025-10-26; PR #5150 (allowOrigins lists) merged 2025-11-21; v1.15.5 was
        # still current on 2025-12-10, so both are in v1.16.0.
        **_since((1, 16, 0), "udpReadBufferSize",
                 *(f"{s}AllowOrigins" for s in (*_HTTP_SERVERS, "hls", "webrtc"))),
        **_deprecated(V1_9_0, (1, 16, 0), {
            f"{s}AllowOrigin": f"{s}AllowOrigins" for s in (*_HTTP_SERVERS, "hls", "webrtc")
        }),
        # PR #5219 (structured logs, opened 2025-11-20, merge date unknown); PR #5488
        # (packet dumper) 2026-02-19. sysLogPrefix: PR not found, first seen with these.
        **_since((1, 17, 0), "logStructured", "sysLogPrefix", "dumpPackets"),
        # PR #5569 merged 2026-03-13, four days before v1.17.0: v1.18.0. authHTTPFingerprint
        # was requested on 2026-02-02 (#5413); its PR was not found.
        **_since((1, 18, 0), "authJWTIssuer", "authJWTAudience", "authHTTPFingerprint"),
        # PR #5716 2026-04-30 (after v1.18.0 was out).
        **_since((1, 19, 0), "hlsCDNSecret"),
        # PR #5815 (Media-over-QUIC) merged 2026-05-31 ("implemented with #5815", issue
        # #3208); v1.19.0 was published 2026-06-02 (winget-pkgs #382829), the day the
        # follow-ups #5825/#5826 were opened; a MoQ client project documents `moq`,
        # `moqHTTPS2Address`, `moqHTTPS3Address` for "v1.19.0+". Not a tagged tree: pinned
        # early on purpose, since a v1.19.0 told nothing opens MoQ on every interface.
        **_since((1, 19, 0), "moq", "moqServerKey", "moqServerCert"),
        **_deprecated((1, 19, 0), (1, 19, 3), {
            "moqHTTPS2Address": "moqHTTP2Address", "moqHTTPS3Address": "moqHTTP3Address",
        }),
        # PR #5754 (PROXY protocol, done by 2026-06-05) and #5841 (moqHTTPS*Address ->
        # moqHTTP*Address, after v1.19.0): merged before v1.19.3 was tagged; whether v1.19.1
        # (2026-06-10, winget-pkgs #386396) or v1.19.2 (2026-06-28, #394626) had them is
        # unknown.
        **_since((1, 19, 3), "rtspTrustedProxies", "rtmpTrustedProxies",
                 "moqHTTP2Address", "moqHTTP3Address"),
        # Raw QUIC for MoQ: "implemented in v1.20.0" (#5826).
        **_since((1, 20, 0), "moqQUICAddress"),
        # Seen only in the v1.20.1 tree.
        **_since(LATEST_SUPPORTED, "moqAllowOrigins", "moqTrustedProxies"),
    }
)

_RPI_CAMERA_V1_9 = (
    "CamID", "Width", "Height", "HFlip", "VFlip", "Brightness", "Contrast", "Saturation",
    "Sharpness", "Exposure", "AWB", "AWBGains", "Denoise", "Shutter", "Metering", "Gain",
    "EV", "ROI", "HDR", "TuningFile", "Mode", "FPS", "AfMode", "AfRange", "AfSpeed",
    "LensPosition", "AfWindow", "FlickerPeriod", "TextOverlayEnable", "TextOverlay",
    "Codec", "IDRPeriod", "Bitrate",
)

PATH_KEYS: Final[Mapping[str, KeySpan]] = MappingProxyType(
    {
        # -- present in the v1.9-era Path struct --------------------------------------------
        **_since(
            V1_9_0,
            "source", "sourceFingerprint", "sourceOnDemand", "sourceOnDemandStartTimeout",
            "sourceOnDemandCloseAfter", "maxReaders", "srtReadPassphrase",
            "record", "recordPath", "recordFormat", "recordPartDuration",
            "recordSegmentDuration", "recordDeleteAfter",
            "overridePublisher", "srtPublishPassphrase",
            "rtspTransport", "rtspAnyPort", "rtspRangeType", "rtspRangeStart",
            "sourceRedirect",
            *(f"rpiCamera{name}" for name in _RPI_CAMERA_V1_9),
            "runOnInit", "runOnInitRestart", "runOnDemand", "runOnDemandRestart",
            "runOnDemandStartTimeout", "runOnDemandCloseAfter", "runOnUnDemand",
            "runOnRead", "runOnReadRestart", "runOnUnread",
            "runOnRecordSegmentCreate", "runOnRecordSegmentComplete",
        ),
        **_deprecated(V1_9_0, V1_9_0, {
            "playback": None,  # moved to the global playback server
            "publishUser": "authInternalUsers", "publishPass": "authInternalUsers",
            "publishIPs": "authInternalUsers", "readUser": "authInternalUsers",
            "readPass": "authInternalUsers", "readIPs": "authInternalUsers",
            "disablePublisherOverride": "overridePublisher",
            "sourceProtocol": "rtspTransport",  # PR #2644 (v1.3 era)
            "sourceAnyPortEnable": "rtspAnyPort",
        }),
        **_deprecated(V1_9_0, LATEST_SUPPORTED, {"fallback": None}),
        # PR #4784/#4786 (2025-07-25, v1.14.0) replaced these two.
        **_deprecated(V1_9_0, (1, 14, 0), {
            "rpiCameraProfile": "rpiCameraH264Profile", "rpiCameraLevel": "rpiCameraH264Level",
        }),
        # Present in the v1.11/v1.12-era Path struct, absent from the v1.9-era one; the exact
        # release was not pinned.
        **_since((1, 12, 0), "useAbsoluteTimestamp", "recordMaxPartSize",
                 "rpiCameraSecondary"),
        **_deprecated((1, 12, 0), (1, 14, 0), {"rpiCameraJPEGQuality": "rpiCameraMJPEGQuality"}),
        # PR #4846 (UDP buffers, 2025-08-10), RTP source (v1.14.0 notes), PRs #4784/#4786.
        **_since((1, 14, 0), "rtpSDP", "rpiCameraMJPEGQuality"),
        **_deprecated((1, 14, 0), LATEST_SUPPORTED, {
            "rtspUDPReadBufferSize": None, "mpegtsUDPReadBufferSize": None,
            "rtpUDPReadBufferSize": None,
        }),
        **_deprecated((1, 14, 0), (1, 19, 3), {
            "rpiCameraHardwareH264Profile": "rpiCameraH264Profile",
            "rpiCameraHardwareH264Level": "rpiCameraH264Level",
            "rpiCameraSoftwareH264Profile": "rpiCameraH264Profile",
            "rpiCameraSoftwareH264Level": "rpiCameraH264Level",
        }),
        # PR #5335 (2026-01-10); users report it working on v1.16.2.
        **_since((1, 16, 2), "alwaysAvailable", "alwaysAvailableFile", "alwaysAvailableTracks"),
        # PR #5476 (v1.17.0 2026-03-17), #5397, #5486 and #5479 (Feb 2026).
        **_since((1, 17, 0), "rtspDemuxMpegts", "rtspUDPSourcePortRange", "whepBearerToken",
                 "whepSTUNGatherTimeout", "whepHandshakeTimeout", "whepTrackGatherTimeout"),
        # PR #5800 (2026-05-25) and #5894 (2026-06-25): merged before v1.19.3.
        **_since((1, 19, 3), "rtspScale", "rpiCameraH264Profile", "rpiCameraH264Level"),
        # PR #5957 renamed the availability hooks, PR #5956 added the online hooks (v1.19.3).
        **_since((1, 19, 3), "runOnAvailable", "runOnAvailableRestart", "runOnUnavailable",
                 "runOnOnline", "runOnOnlineRestart", "runOnOffline"),
        **_deprecated(V1_9_0, (1, 19, 3), {
            "runOnReady": "runOnAvailable", "runOnReadyRestart": "runOnAvailableRestart",
            "runOnNotReady": "runOnUnavailable",
        }),
        # MoQ sources over raw QUIC: v1.20.0 (#5826).
        **_since((1, 20, 0), "moqTransport"),
        # Native forwarding, PR #5558, done by 2026-08-04; the v1.20.0 tag date is unknown.
        **_since(LATEST_SUPPORTED, "forward"),
    }
)

# Elements of list-of-mapping keys (AuthInternalUser, AuthInternalUserPermission): unchanged
# from v1.9.0 to v1.20.1.
AUTH_INTERNAL_USER_KEYS: Final = frozenset({"user", "pass", "ips", "permissions"})
AUTH_PERMISSION_KEYS: Final = frozenset({"action", "path"})
