// A camera's live picture: WebRTC through vmsd's WHEP proxy when it answers, else a snapshot
// refreshed every few seconds. The label says which one is on screen, and why.
import { cameraPath } from "./api.js";
import { h, replace } from "./dom.js";

const SNAPSHOT_EVERY_MS = 5000;
const ICE_GATHER_MS = 2000;

function iceGathered(pc) {
  // Non-trickle: the offer carries the candidates gathered within ICE_GATHER_MS.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ICE_GATHER_MS);
  });
}

async function whep(name, video) {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addEventListener("track", (event) => {
    if (!video.srcObject) video.srcObject = event.streams[0] || new MediaStream([event.track]);
  });
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc);
  const response = await fetch(`${cameraPath(name)}/whep`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/sdp" },
    body: pc.localDescription.sdp,
  });
  if (response.status !== 201) {
    pc.close();
    throw new Error(`live video answered ${response.status}`);
  }
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  const session = response.headers.get("Location");
  return () => {
    pc.close();
    if (session) fetch(session, { method: "DELETE", credentials: "same-origin" }).catch(() => {});
  };
}

function snapshots(name, img, label) {
  let url = null;
  let stopped = false;
  let timer = null;
  async function refresh() {
    try {
      const response = await fetch(`${cameraPath(name)}/snapshot`, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`snapshot answered ${response.status}`);
      const blob = await response.blob();
      if (stopped) return;
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(blob);
      img.src = url;
      img.dataset.loaded = "true";
      label.dataset.error = "";
    } catch (err) {
      label.dataset.error = String(err.message || err);
    }
    if (!stopped) timer = setTimeout(refresh, SNAPSHOT_EVERY_MS);
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (url) URL.revokeObjectURL(url);
  };
}

// Fills `box` with the picture; returns the function that ends it.
export function livePicture(box, name) {
  const video = h("video", { autoplay: true, playsinline: true, class: "live", "aria-label": `${name} live` });
  // The property, not the attribute: set after creation, `muted` only sets defaultMuted, and
  // every tile of the grid would play its camera's sound (and autoplay could be refused).
  video.muted = true;
  const img = h("img", { alt: `${name} snapshot`, class: "live" });
  const label = h("p", { class: "picture-label" }, "Connecting…");
  replace(box, label);
  let stop = () => {};
  let ended = false;
  whep(name, video).then((end) => {
    if (ended) { end(); return; }
    stop = end;
    box.dataset.mode = "webrtc";
    replace(label, "Live (WebRTC)");
    replace(box, video, label);
  }).catch((err) => {
    if (ended) return;
    box.dataset.mode = "snapshot";
    replace(label, `Snapshot every ${SNAPSHOT_EVERY_MS / 1000} s — live video unavailable (${err.message})`);
    replace(box, img, label);
    stop = snapshots(name, img, label);
  });
  return () => { ended = true; stop(); };
}
