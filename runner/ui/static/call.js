// One call's timeline: wavesurfer.js draws both channels of the two-channel recording (caller
// left, agent right) on one time axis; the turn, tool and cursor tracks below share that axis.
(function () {
  "use strict";
  var box = document.getElementById("timeline");
  var length = parseFloat(box.dataset.length) || 1;
  var cursor = document.getElementById("cursor");
  var clock = document.getElementById("clock");
  var play = document.getElementById("play");

  function show(t) {
    cursor.style.left = Math.min(100, (100 * t) / length) + "%";
    clock.textContent = t.toFixed(2) + " s";
    document.querySelectorAll("#transcript .turn").forEach(function (li) {
      li.classList.toggle("now", parseFloat(li.dataset.start) <= t &&
        (!li.nextElementSibling || parseFloat(li.nextElementSibling.dataset.start) > t));
    });
  }
  show(0);
  if (!box.dataset.src || !window.WaveSurfer) { return; }

  var ws = window.WaveSurfer.create({
    container: "#waveform",
    url: box.dataset.src,
    height: 56,
    normalize: true,
    splitChannels: [{ waveColor: "#1f6feb", progressColor: "#0b3d91" },
                     { waveColor: "#b35900", progressColor: "#6b3500" }],
    cursorColor: "#d00000",
    interact: true,
    dragToSeek: true
  });
  window.cbWave = ws;
  ws.on("ready", function () { box.classList.add("ready"); });
  ws.on("timeupdate", show);
  ws.on("play", function () { play.textContent = "Pause"; });
  ws.on("pause", function () { play.textContent = "Play"; });
  ws.on("error", function (e) { box.dataset.error = String(e); });
  play.addEventListener("click", function () { ws.playPause(); });
  document.querySelectorAll("#transcript .turn").forEach(function (li) {
    li.addEventListener("click", function () { ws.setTime(parseFloat(li.dataset.start)); });
  });
})();
