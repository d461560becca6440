// 叫号屏: keep the tiles current from server-sent events. The page works without this script
// (it reloads every 30 s); EventSource reconnects by itself and the server resends the full state.
(function () {
  "use strict";
  var grid = document.getElementById("board");
  var status = document.getElementById("board-status");
  if (!grid || !window.EventSource) return;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function columns(n) {
    return n <= 1 ? 1 : n <= 4 ? 2 : n <= 6 ? 3 : n <= 12 ? 4 : 5;
  }

  function tile(t) {
    var s = el("section", "board-tile");
    var h = el("h2", "board-room", t.room);
    if (t.location) h.appendChild(el("span", "board-loc", t.location));
    s.appendChild(h);

    var now = el("div", "board-now");
    now.appendChild(el("span", "board-label", "正在接待"));
    if (t.now) {
      var num = el("span", "board-number", String(t.now.number));
      num.appendChild(el("small", null, "号"));
      now.appendChild(num);
      now.appendChild(el("span", t.now.name.length > 3 ? "board-name board-name-long" : "board-name", t.now.name));
    } else {
      now.appendChild(el("span", "board-number board-none", "—"));
    }
    s.appendChild(now);

    var next = el("div", "board-next");
    next.appendChild(el("span", "board-label", "下一位"));
    var nums = el("span", "board-next-numbers");
    if (t.next.length === 0) nums.appendChild(el("span", null, "—"));
    t.next.forEach(function (n) {
      var item = el("span", null, String(n));
      item.appendChild(el("small", null, "号"));
      nums.appendChild(item);
    });
    next.appendChild(nums);
    s.appendChild(next);

    var w = el("p", "board-waiting", "等候 ");
    w.appendChild(el("b", null, String(t.waiting)));
    w.appendChild(document.createTextNode(" 人"));
    s.appendChild(w);
    return s;
  }

  function render(board) {
    var frag = document.createDocumentFragment();
    board.rooms.forEach(function (t) { frag.appendChild(tile(t)); });
    if (board.rooms.length === 0) frag.appendChild(el("p", "board-empty", "接待室尚未安排"));
    grid.className = "board-grid board-cols-" + columns(board.rooms.length);
    grid.replaceChildren(frag);
  }

  // 语音叫号: off until someone in the hall switches it on (remembered by this screen). Each call
  // new since the page loaded is spoken once; the browser queues utterances in the order given.
  var voice = document.getElementById("board-voice");
  var speech = window.speechSynthesis && window.SpeechSynthesisUtterance ? window.speechSynthesis : null;
  var voiceOn = false;
  var heard = {}; // "room|number" of every call seen, starting with those on the page as loaded
  document.querySelectorAll("[data-now]").forEach(function (t) { heard[t.getAttribute("data-now")] = true; });

  function showVoice() {
    voice.textContent = voiceOn ? "语音叫号：开" : "语音叫号：关";
    voice.setAttribute("aria-pressed", String(voiceOn));
  }

  if (voice && speech) {
    try { voiceOn = localStorage.getItem("board-voice") === "on"; } catch (e) { /* storage off */ }
    voice.hidden = false;
    showVoice();
    voice.addEventListener("click", function () {
      voiceOn = !voiceOn;
      try { localStorage.setItem("board-voice", voiceOn ? "on" : "off"); } catch (e) { /* storage off */ }
      if (!voiceOn) speech.cancel();
      showVoice();
    });
  }

  function say(text) {
    var u = new SpeechSynthesisUtterance(text);
    u.lang = "zh-CN";
    u.rate = 0.9;
    u.addEventListener("error", function (e) {
      // Browsers refuse to speak before anyone has touched the page (after a restart).
      if (e.error === "not-allowed") {
        status.textContent = "请按一下“语音叫号”按钮以启用声音";
        status.hidden = false;
      }
    });
    speech.speak(u);
  }

  // The board's names are masked by the server already (surname and 某某).
  function announce(board) {
    board.rooms.forEach(function (t) {
      if (!t.now) return;
      var key = t.room + "|" + t.now.number;
      if (heard[key]) return;
      heard[key] = true;
      if (voiceOn && speech) say("请 " + t.now.number + " 号 " + t.now.name + " 到" + t.room);
    });
  }

  var source = new EventSource(grid.getAttribute("data-events"));
  source.addEventListener("board", function (e) {
    status.hidden = true;
    var board = JSON.parse(e.data);
    render(board);
    announce(board);
  });
  source.addEventListener("error", function () {
    status.textContent = "连接中断，正在重新连接…";
    status.hidden = false;
  });
})();
