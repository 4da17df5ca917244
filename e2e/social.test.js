// End to end: playing with friends and on phones. Reloads resume the seat, room links bring friends
// into the same room, the landing card says why a room cannot be joined, the chat's rough edges, and
// the touch controls on a phone-sized page. Screenshots go to e2e/screenshots/.
// Run by scripts/test.sh after `cargo build --release -p skirmish-server` and the client bundle build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { joinGame, openPage, shots, startServer, stats } from "./support.js";

const PHONE = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 };
const PHONE_LANDSCAPE = { ...PHONE, viewport: { width: 844, height: 390 } };

/** The leaderboard's rows as a page shows them. */
const boardRows = (page) =>
  page.evaluate(() => [...document.querySelectorAll("#leaderboard .lb-row:not(.lb-head) span:first-child")].map((s) => s.textContent));

test("a reload resumes the same seat and score, shown once", { timeout: 120_000 }, async () => {
  const url = await startServer(["--view-radius", "3000"]);
  const alice = await openPage("reload-alice");
  const bob = await openPage("reload-bob");
  await joinGame(alice.page, url, "alice");
  await joinGame(bob.page, url, "bob");
  await bob.page.waitForFunction(() => window.skirmishStats().visiblePlayers >= 2, null, { timeout: 20_000 });
  const before = await stats(alice.page);

  await alice.page.reload();
  // No name to type: the tab's stored token takes the seat back by itself.
  await alice.page.waitForFunction(() => window.skirmishStats().connected && window.skirmishStats().me !== null, null, {
    timeout: 20_000,
  });
  const after = await stats(alice.page);
  assert.equal(after.playerId, before.playerId, "the same seat (player id) after the reload");
  assert.equal(after.me.score, before.me.score, "the same score after the reload");
  assert.equal(after.room, before.room, "the same room after the reload");
  assert.ok(await alice.page.isHidden("#join"), "the landing card stays hidden while resuming");
  // Bob sees alice once: the seat was taken back, not left as a ghost beside a new alice.
  await bob.page.waitForFunction(
    (id) => window.skirmishStats().others.some((o) => o.id === id),
    after.playerId,
    { timeout: 10_000 },
  );
  await bob.page.waitForFunction(
    () => [...document.querySelectorAll("#leaderboard .lb-row:not(.lb-head)")].length === 2,
    null,
    { timeout: 10_000 },
  );
  const rows = await boardRows(bob.page);
  assert.equal(rows.filter((r) => r.endsWith(" alice")).length, 1, `alice is on bob's leaderboard once: ${rows}`);
  assert.equal((await stats(bob.page)).visiblePlayers, 2, "bob sees two players, not three");
  // The name is kept for the next visit.
  assert.equal(await alice.page.evaluate(() => localStorage.getItem("skirmish.name")), "alice");
  assert.deepEqual([...alice.record.errors, ...bob.record.errors], [], "no page errors");
});

test("a room link puts a friend in the same room; full and bad codes are said on the card", { timeout: 150_000 }, async () => {
  mkdirSync(shots, { recursive: true });
  const url = await startServer(["--max-players-per-room", "2"]);
  const alice = await openPage("link-alice");
  await joinGame(alice.page, url, "alice");
  const host = await stats(alice.page);
  // The server names the room with a code (protocol 6's `Welcome.room_code`).
  assert.match(host.roomCode ?? "", /^[A-Z2-9]{6}$/, `alice's room has a code: ${host.roomCode}`);
  // The HUD shows the code, and the address bar holds the link.
  assert.equal(await alice.page.textContent("#room-code"), host.roomCode);
  assert.equal(new URL(alice.page.url()).searchParams.get("room"), host.roomCode);

  // "Copy link" hands the link over: on the clipboard, or (where the page may not write it) shown
  // selected in a field.
  await alice.page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  await alice.page.click("#copy-link");
  const link = `${url}/?room=${host.roomCode}`;
  await alice.page.waitForFunction(
    async (expected) => {
      const field = document.getElementById("room-link");
      if (!field.classList.contains("hidden")) return field.value === expected;
      return (await navigator.clipboard.readText().catch(() => "")) === expected;
    },
    link,
    { timeout: 5_000 },
  );

  // The button hands the focus back: Space fires instead of pressing it again.
  assert.notEqual(await alice.page.evaluate(() => document.activeElement?.id), "copy-link");

  const bob = await openPage("link-bob");
  await joinGame(bob.page, `${url}/?room=${host.roomCode}`, "bob");
  const friend = await stats(bob.page);
  assert.equal(friend.room, host.room, "the link put bob in alice's room");
  assert.equal(friend.roomCode, host.roomCode);

  // The room is now full: a third page with the link is told so on the card, and does not loop.
  const carol = await openPage("link-carol");
  await carol.page.goto(`${url}/?room=${host.roomCode}`);
  await carol.page.waitForFunction(() => typeof window.skirmishStats === "function");
  await carol.page.fill("#name-input", "carol");
  await carol.page.press("#name-input", "Enter");
  await carol.page.waitForSelector("#join-message:not(.hidden)", { timeout: 10_000 });
  assert.match(await carol.page.textContent("#join-message"), /full/i);
  assert.ok(await carol.page.isVisible("#join"), "the card is back");
  await carol.page.screenshot({ path: join(shots, "social-room-full.png") });
  const refused = await stats(carol.page);
  assert.ok(!refused.connected && /enter a name/.test(refused.state), `no reconnect loop: ${refused.state}`);
  // "Join any room" seats carol elsewhere.
  await carol.page.click("#any-room");
  await carol.page.waitForFunction(() => window.skirmishStats().connected, null, { timeout: 20_000 });
  assert.notEqual((await stats(carol.page)).room, host.room, "carol joined another room");

  // A code that is not a code is said so before joining, with "join any room" offered.
  const dave = await openPage("link-dave");
  await dave.page.goto(`${url}/?room=no!`);
  await dave.page.waitForSelector("#join-message:not(.hidden)", { timeout: 10_000 });
  assert.match(await dave.page.textContent("#join-message"), /not a room code/);
  assert.ok(await dave.page.isVisible("#any-room"));
  // A well-formed code no room has: /api/play answers 404, and the card says so, naming the code.
  const noRoom = "Z".repeat(host.roomCode.length);
  await dave.page.goto(`${url}/?room=${noRoom}`);
  await dave.page.waitForFunction(() => typeof window.skirmishStats === "function");
  await dave.page.fill("#name-input", "dave");
  await dave.page.press("#name-input", "Enter");
  await dave.page.waitForSelector("#join-message:not(.hidden)", { timeout: 10_000 });
  assert.match(await dave.page.textContent("#join-message"), new RegExp(noRoom));
  assert.ok(await dave.page.isVisible("#any-room"), "any room is offered");
  assert.ok(/enter a name/.test((await stats(dave.page)).state), "no join loop");
  for (const { record } of [alice, bob, carol, dave]) assert.deepEqual(record.errors, [], "no page errors");
});

test("chat: Escape drops the draft, notices stand out, the favicon is served", { timeout: 90_000 }, async () => {
  const adminToken = "e2e-admin-token-0123456789";
  const url = await startServer(["--admin-token", adminToken]);
  const favicon = await fetch(`${url}/favicon.ico`);
  assert.equal(favicon.status, 200, "/favicon.ico is served");
  assert.equal(Buffer.from(await favicon.arrayBuffer()).readUInt16LE(2), 1, "it is an icon (ICO type 1)");
  assert.equal((await fetch(`${url}/favicon.svg`)).status, 200, "/favicon.svg is served");

  const alice = await openPage("chat-alice");
  await joinGame(alice.page, url, "alice");
  await alice.page.keyboard.press("Enter");
  await alice.page.waitForFunction(() => document.activeElement?.id === "chat-input");
  await alice.page.keyboard.type("half-written draft");
  await alice.page.keyboard.press("Escape");
  assert.equal(await alice.page.inputValue("#chat-input"), "", "Escape cleared the draft");
  // The next Enter opens an empty field, and a second sends nothing.
  const openChat = async () => {
    await alice.page.waitForFunction(() => document.activeElement?.id !== "chat-input");
    await alice.page.keyboard.press("Enter");
    await alice.page.waitForFunction(() => document.activeElement?.id === "chat-input");
  };
  await openChat();
  assert.equal(await alice.page.inputValue("#chat-input"), "", "the field opens empty");
  await alice.page.keyboard.press("Enter");
  await openChat();
  await alice.page.keyboard.type("hello");
  await alice.page.keyboard.press("Enter");
  await alice.page.waitForFunction(() => document.getElementById("chat-log").textContent.includes("alice: hello"), null, {
    timeout: 10_000,
  });
  assert.ok(!(await alice.page.textContent("#chat-log")).includes("half-written"), "the dropped draft was never sent");

  // A server notice is a line of its own kind.
  const response = await fetch(`${url}/admin/broadcast`, {
    method: "POST",
    headers: { Authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ text: "maintenance soon" }),
  });
  assert.equal(response.status, 200);
  await alice.page.waitForSelector(".chat-line.notice", { timeout: 10_000 });
  assert.match(await alice.page.textContent(".chat-line.notice"), /maintenance soon/);

  // Clicks over the leaderboard reach the game: the panel lets the pointer through.
  const box = await alice.page.locator("#leaderboard").boundingBox();
  const hit = await alice.page.evaluate(
    ({ x, y }) => document.elementFromPoint(x, y)?.id,
    { x: box.x + box.width / 2, y: box.y + box.height / 2 },
  );
  assert.equal(hit, "game", "the canvas takes clicks over the leaderboard");

  // Many chat lines: the log's top line is whole (its top edge is inside the log's view).
  for (let i = 0; i < 12; i++) {
    await alice.page.evaluate((n) => {
      const line = document.createElement("div");
      line.className = "chat-line";
      line.textContent = `line ${n}`;
      const log = document.getElementById("chat-log");
      log.append(line);
      log.scrollTop = log.scrollHeight;
    }, i);
  }
  const cut = await alice.page.evaluate(() => {
    const log = document.getElementById("chat-log");
    // The top of what the log shows: inside its border and top padding.
    const top = log.getBoundingClientRect().top + log.clientTop + parseFloat(getComputedStyle(log).paddingTop);
    const first = [...log.children].find((l) => l.getBoundingClientRect().bottom > top + 0.5);
    return first.getBoundingClientRect().top - top;
  });
  assert.ok(cut >= -1, `the top visible chat line is whole (it starts ${cut.toFixed(1)} px from the top)`);
  assert.deepEqual(alice.record.errors, [], "no page errors");
});

/** Drags a touch from `from` to `to` through CDP touch events and holds it; resolves with `release`. */
async function touchDrag(page, from, to) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [{ ...from, id: 1 }] });
  for (let step = 1; step <= 4; step++) {
    const x = from.x + ((to.x - from.x) * step) / 4;
    const y = from.y + ((to.y - from.y) * step) / 4;
    await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: [{ x, y, id: 1 }] });
  }
  return () => cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
}

test("on a phone the virtual stick moves the player, and the layout fits", { timeout: 120_000 }, async () => {
  mkdirSync(shots, { recursive: true });
  const url = await startServer([]);
  const phone = await openPage("phone", PHONE);
  await phone.page.goto(url);
  await phone.page.waitForFunction(() => typeof window.skirmishStats === "function");
  assert.ok(await phone.page.isVisible(".touch-only"), "the card shows touch instructions");
  assert.ok(await phone.page.isHidden(".how.mouse-only"), "and not the keyboard ones");
  await phone.page.screenshot({ path: join(shots, "social-phone-card.png") });
  await joinGame(phone.page, url, "thumbs");
  await phone.page.waitForFunction(() => window.skirmishStats().snapshotsReceived >= 10, null, { timeout: 10_000 });
  for (let i = 0; i < 6; i++) {
    await phone.page.evaluate(() => window.skirmishStats());
  }
  await phone.page.screenshot({ path: join(shots, "social-phone-portrait.png") });

  // Drag the left stick towards the open side of the arena.
  const before = await stats(phone.page);
  const dx = before.me.x > 1024 ? -60 : 60;
  const release = await touchDrag(phone.page, { x: 90, y: 700 }, { x: 90 + dx, y: 700 });
  await phone.page.waitForFunction((x0) => Math.abs(window.skirmishStats().me.x - x0) >= 60, before.me.x, {
    timeout: 10_000,
  });
  await phone.page.screenshot({ path: join(shots, "social-phone-stick.png") });
  await release();
  const moved = await stats(phone.page);
  assert.ok(Math.abs(moved.me.x - before.me.x) >= 60, `the stick moved the player: ${before.me.x} -> ${moved.me.x}`);
  assert.ok(Math.abs(moved.me.y - before.me.y) < 30, "sideways, as dragged");
  // The page itself did not scroll or zoom.
  const view = await phone.page.evaluate(() => ({ x: window.scrollX, y: window.scrollY, scale: window.visualViewport.scale }));
  assert.deepEqual(view, { x: 0, y: 0, scale: 1 });

  // The chat folds behind a button on a phone; the button opens it.
  assert.ok(await phone.page.isHidden("#chat"), "the chat is folded away");

  // Panels do not overlap each other, nor the avatar at the centre, in either orientation, with the
  // chat folded or open.
  const layouts = [
    ["portrait", PHONE.viewport, false],
    ["portrait-chat", PHONE.viewport, true],
    ["landscape", PHONE_LANDSCAPE.viewport, false],
    ["landscape-chat", PHONE_LANDSCAPE.viewport, true],
  ];
  for (const [label, size, chatOpen] of layouts) {
    await phone.page.setViewportSize(size);
    if ((await phone.page.isVisible("#chat")) !== chatOpen) await phone.page.click("#chat-toggle");
    assert.equal(await phone.page.isVisible("#chat"), chatOpen, `${label}: the chat button folds and opens the chat`);
    await phone.page.waitForTimeout(200); // a deliberate pause: let a frame lay out the new size
    await phone.page.screenshot({ path: join(shots, `social-phone-${label}.png`) });
    const boxes = await phone.page.evaluate(() =>
      ["corner", "leaderboard", "chat", "chat-toggle", "stick-move", "stick-aim"]
        .map((id) => [id, document.getElementById(id)])
        .filter(([, el]) => el && getComputedStyle(el).display !== "none" && el.getBoundingClientRect().width > 0)
        .map(([id, el]) => {
          const r = el.getBoundingClientRect();
          return { id, left: r.left, top: r.top, right: r.right, bottom: r.bottom };
        }),
    );
    const shown = boxes.map((b) => b.id);
    for (const id of ["corner", "leaderboard", "chat-toggle", "stick-move", "stick-aim"]) {
      assert.ok(shown.includes(id), `${label}: #${id} is shown (${shown})`);
    }
    assert.equal(shown.includes("chat"), chatOpen);
    const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    for (let i = 0; i < boxes.length; i++) {
      for (let j = 0; j < i; j++) {
        assert.ok(!overlaps(boxes[i], boxes[j]), `${label}: #${boxes[i].id} overlaps #${boxes[j].id}: ${JSON.stringify(boxes)}`);
      }
      const avatar = { left: size.width / 2 - 30, right: size.width / 2 + 30, top: size.height / 2 - 40, bottom: size.height / 2 + 30 };
      assert.ok(!overlaps(boxes[i], avatar), `${label}: #${boxes[i].id} covers the avatar`);
      assert.ok(boxes[i].left >= 0 && boxes[i].right <= size.width && boxes[i].bottom <= size.height, `${label}: #${boxes[i].id} is on screen`);
    }
  }
  // A touch on the game takes the focus from the chat field (closing a phone's keyboard).
  await phone.page.focus("#chat-input");
  const tap = await touchDrag(phone.page, { x: 200, y: 200 }, { x: 200, y: 200 });
  await tap();
  assert.notEqual(await phone.page.evaluate(() => document.activeElement?.id), "chat-input", "the chat field lost focus");
  assert.deepEqual(phone.record.errors, [], "no page errors");
});

test("the landing card lists open rooms from /api/rooms and joins the one picked", { timeout: 90_000 }, async () => {
  mkdirSync(shots, { recursive: true });
  const url = await startServer([]);
  // The lobby's answer is faked here, so the card is tested whatever the server lists.
  const rooms = {
    players: 5,
    rooms: [
      { code: "K7MPQR", players: 3, humans: 1, bots: 2, capacity: 64 },
      { code: "not a code", players: 1, humans: 1, bots: 0, capacity: 64 },
      { code: "W4XYZA", players: 2, humans: 2, bots: 0, capacity: 64 },
    ],
  };
  const visitor = await openPage("lobby-card");
  await visitor.page.route("**/api/rooms", (route) =>
    route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(rooms) }),
  );
  // The page asks /api/play where the room picked is; the answer is faked too, naming another
  // room than the one picked, so the Hello shows it asks for the answer's room.
  const asked = [];
  await visitor.page.route("**/api/play*", (route) => {
    asked.push(new URL(route.request().url()).search);
    const ws = url.replace(/^http/, "ws") + "/ws";
    route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ url: ws, room: "K7MPQR" }) });
  });
  const sent = [];
  visitor.page.on("websocket", (ws) => ws.on("framesent", (frame) => sent.push(Buffer.from(frame.payload))));
  await visitor.page.goto(url);
  await visitor.page.waitForSelector("#rooms:not(.hidden)", { timeout: 10_000 });
  const listed = await visitor.page.$$eval("#room-list button", (buttons) => buttons.map((b) => b.textContent));
  assert.deepEqual(listed, ["K7MPQR3/64 players · 2 bots", "W4XYZA2/64 players"], "valid rooms listed, the odd one skipped");
  assert.match(await visitor.page.textContent("#rooms-title"), /5 people playing/);
  await visitor.page.fill("#name-input", "picker");
  await visitor.page.screenshot({ path: join(shots, "social-card-rooms.png") });
  // On a phone held sideways the card is taller than the screen: it starts at its top and scrolls.
  await visitor.page.setViewportSize({ width: 844, height: 390 });
  assert.ok((await visitor.page.locator("#join .card").boundingBox()).y >= 0, "the card's top is on screen");
  await visitor.page.screenshot({ path: join(shots, "social-card-landscape.png") });
  await visitor.page.setViewportSize({ width: 1100, height: 700 });
  // Picking a room asks /api/play for it by code, and the Hello carries the room the answer named.
  // (Whatever the server then answers: this one has no room K7MPQR, a merged lobby refuses it.)
  await visitor.page.click("#room-list button[data-code=W4XYZA]");
  const deadline = Date.now() + 10_000;
  while (!sent.some((frame) => frame.includes("K7MPQR")) && Date.now() < deadline) {
    await visitor.page.waitForTimeout(100); // polling the frames seen so far
  }
  assert.deepEqual(asked.slice(0, 1), ["?room=W4XYZA"], "the page asked /api/play for the room picked");
  assert.ok(sent.some((frame) => frame.includes("K7MPQR") && frame.includes("picker")), "the Hello asked for the answer's room");

  // A missing or broken lobby answer hides the list and breaks nothing.
  for (const broken of [{ status: 404, body: "not found" }, { status: 200, body: "{\"rooms\": 7" }]) {
    const other = await openPage("lobby-broken");
    await other.page.route("**/api/rooms", (route) => route.fulfill({ status: broken.status, body: broken.body }));
    await other.page.goto(url);
    await other.page.waitForFunction(() => typeof window.skirmishStats === "function");
    await other.page.waitForTimeout(300); // a deliberate pause: let the fetch settle
    assert.ok(await other.page.isHidden("#rooms"), `no list for ${JSON.stringify(broken)}`);
    assert.deepEqual(other.record.errors, [], "no page errors");
  }
  assert.deepEqual(visitor.record.errors, [], "no page errors");
});

test("chat over the rate limit is answered by a notice to the sender", { timeout: 120_000 }, async () => {
  const url = await startServer([]);
  const alice = await openPage("flood-alice");
  await joinGame(alice.page, url, "alice");
  // More lines at once than the per-seat chat limit lets through (5, then one every 2 s).
  // The lines go in one task (typed into the field, Enter on it), so they come faster than the limit
  // however slowly a loaded machine runs the page.
  await alice.page.evaluate(() => {
    const field = document.getElementById("chat-input");
    for (let i = 0; i < 9; i++) {
      field.value = `flood ${i}`;
      field.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    }
  });
  await alice.page.waitForSelector(".chat-line.notice", { timeout: 10_000 });
  const notice = await alice.page.textContent(".chat-line.notice");
  assert.ok(notice.startsWith("server: "), `the notice is the server's, set apart: ${notice}`);
  // The first five went through; the rest were held back, and the notice said so.
  await alice.page.waitForFunction(() => document.getElementById("chat-log").textContent.includes("alice: flood 4"), null, {
    timeout: 10_000,
  });
  assert.ok(!(await alice.page.textContent("#chat-log")).includes("alice: flood 8"), "the lines over the limit were not sent");
  assert.deepEqual(alice.record.errors, [], "no page errors");
});
