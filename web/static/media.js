// The player's overlay clock: the time under the viewer's name keeps running while they watch.
(function () {
  "use strict";
  var el = document.getElementById("overlay-time");
  if (!el) { return; }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  // The clock of the page's other times (the unit's zone, as the register records them), not
  // the zone this computer happens to be set to; the computer's own only when none is known.
  var zoned = null;
  try {
    var zone = el.getAttribute("data-zone");
    if (zone) {
      zoned = new Intl.DateTimeFormat("en-US", {timeZone: zone, hourCycle: "h23",
        year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit"});
    }
  } catch (e) { zoned = null; }
  function tick() {
    var d = new Date();
    if (zoned) {
      var p = {};
      zoned.formatToParts(d).forEach(function (x) { p[x.type] = x.value; });
      el.textContent = p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second;
      return;
    }
    el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  window.setInterval(tick, 1000);
})();
