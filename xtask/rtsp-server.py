#!/usr/bin/python3
"""Local RTSP test server for `cargo xtask verify|demo` (GStreamer's GstRtspServer).

Binds to 127.0.0.1 only, prints one line `READY 127.0.0.1:PORT` (flushed) once it
listens, and exits by itself after --max-seconds, on SIGTERM or on SIGINT.

Mounts (live test sources, 640x360 at 30 fps, a keyframe every 30 frames,
parameter sets in-band before every IDR):

  /h264aac   H.264 (x264enc) + AAC 48 kHz stereo
  /h265aac   H.265 (x265enc) + AAC 48 kHz stereo
  /mjpeg     Motion JPEG (jpegenc, 4:2:0)
  /h264      H.264 alone
  /h264b     H.264 with B-frames (x264enc bframes=2, main profile) + AAC 48 kHz stereo
  /h265b     H.265 with B-frames (x265enc bframes=2, closed GOPs) + AAC 48 kHz stereo
  /h264loss1 /h264 with 1% of its RTP packets dropped at random (identity after the
             payloader: the sequence numbers of the dropped packets are skipped)
  /h264loss5 the same with 5% dropped
  /h264pcmu  H.264 at 320x180 + G.711 µ-law 8 kHz mono (white noise: every alignment
             is unique)
  /h264pcma  H.264 at 320x180 + G.711 A-law 8 kHz mono
  /h264l16   H.264 at 320x180 + L16 16 kHz stereo
  /h264aacsmall H.264 at 320x180 + AAC 48 kHz stereo (the HTTP API's case)

Every factory is shared and uses the CLOCK_AND_OFFSET publish clock mode, so a
client joining a running pipeline does not make the others' RTP timestamps jump.

Run it with Debian's /usr/bin/python3, which has `gi`.
"""

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

WIDTH, HEIGHT, FPS, GOP = 640, 360, 30, 30

VIDEO_RAW = (
    f"videotestsrc is-live=true pattern=ball ! "
    f"video/x-raw,width={WIDTH},height={HEIGHT},framerate={FPS}/1,format=I420"
)


def aac_branch(pay: str) -> str:
    """AAC 48 kHz stereo, RFC 3640 (mpeg4-generic) payload."""
    encoder = "avenc_aac" if Gst.ElementFactory.find("avenc_aac") else "voaacenc"
    return (
        "audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! "
        "audio/x-raw,rate=48000,channels=2 ! "
        f"{encoder} bitrate=128000 ! aacparse ! rtpmp4gpay name={pay} pt=97"
    )


NOISE = "audiotestsrc is-live=true wave=white-noise volume=0.3 ! audioconvert ! audioresample"


def g711_branch(pay: str, encoder: str, payloader: str, pt: int) -> str:
    """G.711 8 kHz mono (RFC 3551 PCMU/PCMA) of white noise."""
    return (
        f"{NOISE} ! audio/x-raw,format=S16LE,rate=8000,channels=1 ! {encoder} ! "
        f"{payloader} name={pay} pt={pt}"
    )


def l16_branch(pay: str) -> str:
    """L16 16 kHz stereo (RFC 3551, big-endian) of white noise."""
    return (
        f"{NOISE} ! audio/x-raw,format=S16BE,rate=16000,channels=2 ! "
        f"rtpL16pay name={pay} pt=98"
    )


def small_h264_branch(pay: str) -> str:
    """H.264 at 320x180, a quarter of the encoding work: beside the audio under test."""
    return h264_branch(pay).replace(f"width={WIDTH},height={HEIGHT}", "width=320,height=180")


def h264_branch(pay: str) -> str:
    return (
        f"{VIDEO_RAW} ! x264enc tune=zerolatency speed-preset=ultrafast "
        f"key-int-max={GOP} bitrate=1500 ! video/x-h264,profile=main ! "
        f"rtph264pay name={pay} pt=96 config-interval=-1"
    )


def lossy(branch: str, drop_probability: float) -> str:
    """`branch` (whose payloader is named vpay) with a share of its RTP packets dropped,
    as a lossy network would: the payloader numbers them, identity (named pay0, which
    the server takes for the payloader) drops them."""
    return f"{branch} ! identity name=pay0 drop-probability={drop_probability}"


def h264b_branch(pay: str) -> str:
    """Two B-frames between references, as sent in decode order by cameras that use
    them. No tune=zerolatency (it disables B-frames); the caps filter asks for main
    profile, without which rtph264pay's caps make x264enc drop B-frames. One thread:
    without zerolatency x264 runs frame threads on every core in bursts, which delays
    the other mounts' encoders when all verify cases run at once."""
    return (
        f"{VIDEO_RAW} ! x264enc speed-preset=ultrafast bframes=2 b-adapt=false threads=1 "
        f"key-int-max={GOP} bitrate=1500 ! video/x-h264,profile=main ! "
        f"rtph264pay name={pay} pt=96 config-interval=-1"
    )


def h265_branch(pay: str) -> str:
    return (
        f"{VIDEO_RAW} ! x265enc tune=zerolatency speed-preset=ultrafast "
        f"key-int-max={GOP} bitrate=1500 option-string=min-keyint={GOP} ! "
        f"rtph265pay name={pay} pt=96 config-interval=-1"
    )


def h265b_branch(pay: str) -> str:
    """Two B-frames between references, sent in decode order. No tune=zerolatency (it
    disables B-frames); a fixed pattern (b-adapt=0) in closed GOPs (open-gop=0: every
    keyframe an IDR, no leading pictures that reference the previous GOP); one frame
    thread and one pool, for the same reason as /h264b's threads=1."""
    return (
        f"{VIDEO_RAW} ! x265enc speed-preset=ultrafast key-int-max={GOP} bitrate=1500 "
        f'option-string="min-keyint={GOP}:bframes=2:b-adapt=0:open-gop=0:frame-threads=1:pools=1" ! '
        f"rtph265pay name={pay} pt=96 config-interval=-1"
    )


def mjpeg_branch(pay: str) -> str:
    return f"{VIDEO_RAW} ! jpegenc quality=75 ! rtpjpegpay name={pay} pt=26"


MOUNTS = {
    "/h264aac": lambda: f"( {h264_branch('pay0')} {aac_branch('pay1')} )",
    "/h265aac": lambda: f"( {h265_branch('pay0')} {aac_branch('pay1')} )",
    "/mjpeg": lambda: f"( {mjpeg_branch('pay0')} )",
    "/h264": lambda: f"( {h264_branch('pay0')} )",
    "/h264b": lambda: f"( {h264b_branch('pay0')} {aac_branch('pay1')} )",
    "/h265b": lambda: f"( {h265b_branch('pay0')} {aac_branch('pay1')} )",
    "/h264loss1": lambda: f"( {lossy(h264_branch('vpay'), 0.01)} )",
    "/h264loss5": lambda: f"( {lossy(h264_branch('vpay'), 0.05)} )",
    "/h264pcmu": lambda: f"( {small_h264_branch('pay0')} {g711_branch('pay1', 'mulawenc', 'rtppcmupay', 0)} )",
    "/h264pcma": lambda: f"( {small_h264_branch('pay0')} {g711_branch('pay1', 'alawenc', 'rtppcmapay', 8)} )",
    "/h264l16": lambda: f"( {small_h264_branch('pay0')} {l16_branch('pay1')} )",
    "/h264aacsmall": lambda: f"( {small_h264_branch('pay0')} {aac_branch('pay1')} )",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument(
        "--max-seconds", type=float, default=600, help="exit by itself after this many seconds"
    )
    parser.add_argument("--user", help="require RTSP authentication with this user name")
    parser.add_argument("--password", help="password for --user")
    args = parser.parse_args()
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        basic = GstRtspServer.RTSPAuth.make_basic(args.user, args.password)
        auth.add_basic(basic, token)
        server.set_auth(auth)

    mounts = server.get_mount_points()
    for path, launch in MOUNTS.items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch())
        factory.set_shared(True)
        factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
        if args.user is not None:
            factory.add_role_from_structure(
                Gst.Structure.from_string(
                    "user, media.factory.access=(boolean)true, "
                    "media.factory.construct=(boolean)true"
                )[0]
            )
        mounts.add_factory(path, factory)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        os._exit(1)

    def quit_loop(*_):
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, quit_loop)
    GLib.timeout_add(int(args.max_seconds * 1000), quit_loop)

    print(f"READY 127.0.0.1:{server.get_bound_port()}", flush=True)
    loop.run()
    # Tearing pipelines down takes ~2 s; nothing needs saving, so leave at once.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
