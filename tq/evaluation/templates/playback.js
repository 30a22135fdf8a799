// The record's code playback: a slider over the timeline's frames, play/pause at 1-32x with
// idle time skipped, markers for runs and signals. Inline under the page's CSP (allowed by
// this script's hash); the frames come as JSON in #playback-data.
(() => {
  const data = JSON.parse(document.getElementById("playback-data").textContent);
  const frames = data.frames;
  const slider = document.getElementById("playback-slider");
  const code = document.getElementById("playback-code");
  const info = document.getElementById("playback-info");
  const play = document.getElementById("playback-play");
  const speed = document.getElementById("playback-speed");
  const markers = document.getElementById("playback-markers");
  if (!frames.length) return;
  // Offsets are in code points (as the server counts): edit arrays of characters. One
  // string is kept every KEY frames; a frame is rebuilt from the one kept before it.
  const KEY = 32;
  const CHUNK = 8192; // spread arguments are bounded: insert in pieces
  const applyEdit = (chars, frame) => {
    chars.splice(frame.start, frame.deleted);
    const inserted = Array.from(frame.inserted);
    for (let at = 0; at < inserted.length; at += CHUNK) {
      chars.splice(frame.start + at, 0, ...inserted.slice(at, at + CHUNK));
    }
  };
  const keyframes = [];
  {
    const chars = [];
    frames.forEach((frame, index) => {
      applyEdit(chars, frame);
      if (index % KEY === 0) keyframes.push(chars.join(""));
    });
  }
  const textAt = (index) => {
    const key = Math.floor(index / KEY);
    const chars = Array.from(keyframes[key]);
    for (let at = key * KEY + 1; at <= index; at += 1) applyEdit(chars, frames[at]);
    return chars.join("");
  };
  const show = (index) => {
    const frame = frames[index];
    code.textContent = textAt(index);
    code.dataset.position = String(frame.position);
    code.dataset.at = frame.at;
    code.style.borderLeftColor = frame.color;
    info.textContent = `${index + 1} / ${frames.length} · ${frame.at.replace("T", " ").slice(0, 19)} · ${frame.author}`;
    info.style.color = frame.color;
  };
  const frameOf = (position) => {
    const found = frames.findIndex((frame) => frame.position >= position);
    return found < 0 ? frames.length - 1 : found;
  };
  for (const marker of data.markers) {
    const index = frameOf(marker.position);
    const button = document.createElement("button");
    button.className = `marker ${marker.kind}`;
    button.title = marker.label;
    button.textContent = marker.kind === "run" ? "▶" : "!";
    button.dataset.position = String(marker.position);
    button.style.left = `${frames.length > 1 ? (100 * index) / (frames.length - 1) : 0}%`;
    button.addEventListener("click", () => {
      slider.value = String(index);
      show(index);
    });
    markers.appendChild(button);
  }
  let timer = null;
  const stop = () => {
    clearTimeout(timer);
    timer = null;
    play.textContent = "Play";
  };
  const next = () => {
    const index = Number(slider.value);
    if (index >= frames.length - 1) return stop();
    slider.value = String(index + 1);
    show(index + 1);
    // Idle time skipped: a pause longer than 2 s plays as 2 s.
    const after = frames[index + 2];
    const gap = after ? Date.parse(after.at) - Date.parse(frames[index + 1].at) : 0;
    timer = setTimeout(next, Math.max(Math.min(gap, 2000), 40) / Number(speed.value));
  };
  play.addEventListener("click", () => {
    if (timer !== null) return stop();
    if (Number(slider.value) >= frames.length - 1) slider.value = "0";
    play.textContent = "Pause";
    show(Number(slider.value));
    timer = setTimeout(next, 300 / Number(speed.value));
  });
  slider.addEventListener("input", () => show(Number(slider.value)));
  show(Number(slider.value));
})();
