"""A GStreamer RTSP server standing in for IP cameras in tests.

Runs under the system interpreter (the GStreamer bindings are not in the venv):

    /usr/bin/python3 tests/streams/rtsp_server.py --port 8554 --path /cam1 --path /cam2 \
        [--fps 10] [--size 320x240] [--gop 10] [--audio [--audio-codec aac|pcma|pcmu]] \
        [--pattern ball] [--watch-stdin] \
        [--user NAME [--digest]] [--record]    # the password in $RTSP_SERVER_PASSWORD

Every path serves the same kind of live H.264 stream (shared media: all readers of a path see
one pipeline), optionally with an AAC (or Opus) audio track, or G.711 (`--audio-codec pcma`,
`pcmu`). Prints `READY <port>` on stdout once listening (`--port 0` picks a free port), and
exits 0 on SIGTERM/SIGINT, or when stdin reaches end of file with `--watch-stdin` (so a parent
that dies cannot leave it behind).
With `--user` (and the password in $RTSP_SERVER_PASSWORD) every path needs those credentials
(GStreamer's RTSPAuth: Basic, or Digest with `--digest`), as a camera with a password does:
anything else is a 401.
With `--record` the paths take a publisher instead (ANNOUNCE/RECORD of H.264), and the server
prints `MEDIA <path>` once the first published frame has arrived.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def _has(element: str) -> bool:
    return Gst.ElementFactory.find(element) is not None


def launch_line(args: argparse.Namespace) -> str:
    width, height = args.size
    video = (
        f"videotestsrc is-live=true pattern={args.pattern}"
        f" ! video/x-raw,width={width},height={height},framerate={args.fps}/1"
        + (" ! timeoverlay" if _has("timeoverlay") else "")
        + " ! videoconvert ! video/x-raw,format=I420"
        f" ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.gop}"
        " bitrate=500 ! video/x-h264,profile=baseline"
        " ! rtph264pay name=pay0 pt=96"
    )
    audio = ""
    if args.audio:
        source = "audiotestsrc is-live=true wave=sine volume=0.2 ! audioconvert ! audioresample"
        if args.audio_codec in ("pcma", "pcmu"):
            # G.711, as many IP cameras send it: 8 kHz mono, static payload types 8 and 0.
            encoder = {"pcma": "alawenc ! rtppcmapay", "pcmu": "mulawenc ! rtppcmupay"}
            caps = "audio/x-raw,rate=8000,channels=1"
            audio = f" {source} ! {caps} ! {encoder[args.audio_codec]} name=pay1"
        elif _has("voaacenc"):
            audio = f" {source} ! voaacenc ! rtpmp4gpay name=pay1 pt=97"
        else:
            audio = f" {source} ! opusenc ! rtpopuspay name=pay1 pt=97"
    return f"( {video}{audio} )"


def camera_auth(user: str, password: str, *, digest: bool) -> GstRtspServer.RTSPAuth:
    """One account, allowed to watch every path; without it a client gets a 401."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "camera-user")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    if digest:
        auth.add_digest(user, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    return auth


def on_published_media(
    _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia, path: str
) -> None:
    """Say `MEDIA <path>` when the first frame a publisher sent comes out of the depayloader."""
    sink = media.get_element().get_by_name("sink")
    said = []

    def handoff(*_: object) -> None:
        if not said:
            said.append(True)
            print(f"MEDIA /{path.lstrip('/')}", flush=True)

    sink.connect("handoff", handoff)


def parse_args(argv: list[str]) -> argparse.Namespace:
    def size(text: str) -> tuple[int, int]:
        width, _, height = text.partition("x")
        return int(width), int(height)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", action="append", required=True, dest="paths")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--size", type=size, default=(320, 240))
    parser.add_argument("--gop", type=int, default=10, help="keyframe interval in frames")
    parser.add_argument("--audio", action="store_true")
    parser.add_argument(
        "--audio-codec", choices=("aac", "pcma", "pcmu"), default="aac", help="with --audio"
    )
    parser.add_argument("--pattern", default="ball", help="videotestsrc pattern (ball, smpte)")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    parser.add_argument("--user", help="require these credentials (RTSPAuth)")
    parser.add_argument("--digest", action="store_true", help="ask for Digest, not Basic")
    parser.add_argument("--record", action="store_true", help="receive a publisher's stream")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    Gst.init(None)
    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    if args.user:
        # From the environment: an argv is every local user's to read, as vmsd knows.
        password = os.environ.get("RTSP_SERVER_PASSWORD", "")
        server.set_auth(camera_auth(args.user, password, digest=args.digest))
    mounts = server.get_mount_points()
    for path in args.paths:
        factory = GstRtspServer.RTSPMediaFactory()
        if args.record:
            factory.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
            factory.set_launch(
                "( rtph264depay name=depay0 ! fakesink name=sink signal-handoffs=true )"
            )
            factory.connect("media-configure", on_published_media, path)
        else:
            factory.set_launch(launch_line(args))
            factory.set_shared(True)
        if args.user:
            permissions = GstRtspServer.RTSPPermissions()
            for permission in (
                GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS,
                GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
            ):
                permissions.add_permission_for_role("camera-user", permission, True)
            factory.set_permissions(permissions)
        mounts.add_factory("/" + path.lstrip("/"), factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    def quit_loop(*_: object) -> bool:
        loop.quit()
        return False  # GLib.SOURCE_REMOVE

    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, quit_loop)
    if args.watch_stdin:
        GLib.io_add_watch(
            GLib.IOChannel.unix_new(sys.stdin.fileno()),
            GLib.PRIORITY_DEFAULT,
            GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
            quit_loop,
        )
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
