// End to end: a kill seen from three sides. Alice shoots bob until he falls; bob sees the death
// screen (who, a countdown) and respawns; alice gets hit markers and the kill confirmation; carol,
// watching, sees it in the kill feed, and the chat stays for chat.
// Run by scripts/test.sh after `cargo build --release -p skirmish-server` and the client bundle build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { joinGame, openPage, root, shots, startServer, stats } from "./support.js";

/** An open room whose three spawn points are in sight and in range of each other. */
const DUEL_MAP = join(root, "e2e", "maps", "duel.map");

/** Points `page`'s mouse at the world point `target` (the own avatar is at the screen centre). */
async function aimAt(page, target) {
  const s = await stats(page);
  const { width, height } = page.viewportSize();
  const x = width / 2 + (target.x - s.me.x) * s.zoom;
  const y = height / 2 + (target.y - s.me.y) * s.zoom;
  await page.mouse.move(x, y);
  return { x, y };
}

/** Records every text the element `id` shows from now on, read back by `textsShown`: feedback
 * that lasts a second or two may come and go between two polls on a loaded machine. */
async function recordTexts(page, id) {
  await page.evaluate((id) => {
    const element = document.getElementById(id);
    window.textsShown = window.textsShown ?? {};
    window.textsShown[id] = [];
    new MutationObserver(() => window.textsShown[id].push(element.textContent)).observe(element, {
      childList: true, characterData: true, subtree: true,
    });
  }, id);
}

/** Waits until the element `id` has shown a text matching `pattern`; resolves with its texts. */
async function textShown(page, id, pattern) {
  await page.waitForFunction(
    ({ id, source }) => window.textsShown[id].some((t) => new RegExp(source).test(t)),
    { id, source: pattern.source },
    { timeout: 5_000 },
  );
  return page.evaluate((id) => window.textsShown[id].filter((t) => t), id);
}

test("a kill is seen by the victim, the shooter and a watcher", { timeout: 180_000 }, async () => {
  mkdirSync(shots, { recursive: true });
  const url = await startServer(["--map", DUEL_MAP]);
  const alice = await openPage("alice");
  const bob = await openPage("bob");
  const carol = await openPage("carol");
  // Carol's browser has no WebAudio: the game must play on, silently.
  await carol.page.addInitScript(() => {
    delete window.AudioContext;
    delete window.webkitAudioContext;
  });
  await joinGame(alice.page, url, "alice");
  await joinGame(bob.page, url, "bob");
  await joinGame(carol.page, url, "carol");
  for (const { page } of [alice, bob, carol]) {
    await page.waitForFunction(() => window.skirmishStats().visiblePlayers >= 3, null, { timeout: 20_000 });
  }
  const before = { alice: await stats(alice.page), bob: await stats(bob.page), carol: await stats(carol.page) };

  // The HUD: hit points, the whole interest circle on screen, the room's head count, alive.
  for (const [name, s] of Object.entries(before)) {
    assert.equal(s.hp, 100, `${name} starts with full hit points`);
    assert.equal(s.dead, null, `${name} is alive`);
    assert.ok(s.zoom > 0 && 2 * 640 * s.zoom <= 700, `${name}'s zoom fits the view radius: ${s.zoom}`);
    assert.equal(s.roomPlayers, 3, `${name}'s room has three players`);
    assert.equal(typeof s.muted, "boolean");
    assert.ok("roomCode" in s && Array.isArray(s.killFeed), JSON.stringify(s));
  }
  assert.match(await bob.page.textContent("#hp"), /100/, "the HUD shows bob's hit points");
  const board = await carol.page.textContent("#leaderboard");
  for (const name of ["alice", "bob", "carol"]) assert.ok(board.includes(name), `the leaderboard lists ${name}: ${board}`);
  assert.match(board, /3 here/, `the leaderboard counts the room: ${board}`);

  // Alice aims at bob and holds fire until he falls (spawn protection lasts 1.5 s after joining).
  const bobAt = before.bob.me;
  await recordTexts(alice.page, "kill-banner");
  await alice.page.bringToFront();
  await aimAt(alice.page, bobAt);
  await alice.page.mouse.down();
  const hurt = await bob.page.waitForFunction(() => {
    const s = window.skirmishStats();
    return s.hp !== null && s.hp < 100 ? s.hp : null;
  }, null, { timeout: 20_000, polling: 16 });
  console.log(`bob was hit: ${await hurt.jsonValue()} hit points left`);
  await bob.page.screenshot({ path: join(shots, "combat-1-bob-hurt.png") });
  await recordTexts(bob.page, "spawn-hint");
  // The three pages are watched at once: what they show lasts seconds (the kill feed 5 s, the
  // banner 2.2 s, the death screen until the respawn 2 s later).
  const [death, shooter, watched] = await Promise.all([
    // Bob's death screen names alice and counts down to the respawn (stats and text read together).
    bob.page.waitForFunction(() => {
      const s = window.skirmishStats();
      const text = document.getElementById("death")?.textContent ?? "";
      return s.dead && /alice/.test(text) ? { dead: s.dead, text, me: s.me } : null;
    }, null, { timeout: 20_000, polling: 16 }).then(async (h) => {
      // Stop shooting: bob respawns in 2 s.
      await alice.page.mouse.up();
      return h.jsonValue();
    }),
    // Alice gets the kill confirmation.
    alice.page.waitForFunction(() => {
      const s = window.skirmishStats();
      return s.killsConfirmed >= 1 ? s : null;
    }, null, { timeout: 20_000, polling: 16 }).then((h) => h.jsonValue()),
    // Carol, watching, sees it in the kill feed.
    carol.page.waitForFunction(() => {
      const s = window.skirmishStats();
      const text = document.getElementById("killfeed")?.textContent ?? "";
      return s.killFeed.some((l) => l.killer === "alice" && l.victim === "bob") ? { feed: s.killFeed, text } : null;
    }, null, { timeout: 20_000, polling: 16 }).then((h) => h.jsonValue()),
  ]);
  await Promise.all([
    bob.page.screenshot({ path: join(shots, "combat-2-bob-death-screen.png") }),
    alice.page.screenshot({ path: join(shots, "combat-3-alice-kill-confirmed.png") }),
    carol.page.screenshot({ path: join(shots, "combat-4-carol-kill-feed.png") }),
  ]);
  assert.equal(death.dead.killer, before.alice.playerId, `bob's killer is alice: ${JSON.stringify(death.dead)}`);
  assert.ok(death.dead.respawnInMs > 0 && death.dead.respawnInMs <= 2_000, `a countdown: ${JSON.stringify(death.dead)}`);
  assert.match(death.text, /Eliminated by alice/, death.text);
  assert.match(death.text, /Respawning in \d+\.\d s/, death.text);
  // The camera stays where bob fell.
  assert.ok(Math.hypot(death.me.x - bobAt.x, death.me.y - bobAt.y) < 1, `bob fell where he stood: ${JSON.stringify(death.me)}`);
  // Alice: hit markers and the kill banner.
  assert.ok(shooter.hitMarkers >= 1, `alice saw hit markers: ${shooter.hitMarkers}`);
  const banners = await textShown(alice.page, "kill-banner", /Eliminated bob/);
  // (On a stalled machine shots still in flight may kill bob again after his respawn: a banner each.)
  assert.ok(banners.every((t) => t === "Eliminated bob"), JSON.stringify(banners));
  // Carol: the feed line on screen; the chat stays for chat.
  assert.match(watched.text, /alice ▸ bob/);
  const chat = await carol.page.textContent("#chat-log");
  assert.ok(!/eliminated/i.test(chat), `kills stay out of the chat: ${chat}`);

  // Bob respawns: the death screen goes, full hit points, spawn protection with its hint.
  await bob.page.waitForFunction(() => window.skirmishStats().dead === null, null, { timeout: 10_000, polling: 16 });
  const back = await stats(bob.page);
  assert.equal(back.hp, 100, "bob is back with full hit points");
  assert.ok(await bob.page.isHidden("#death"), "the death screen is gone");
  const hints = await textShown(bob.page, "spawn-hint", /Protected for/);
  assert.match(hints[0], /^Protected for \d\.\d s — firing ends it$/, JSON.stringify(hints));
  await bob.page.screenshot({ path: join(shots, "combat-5-bob-respawned.png") });
  // Firing ends protection, and the hint goes with it.
  await bob.page.keyboard.down("Space");
  await bob.page.waitForFunction(() => !window.skirmishStats().spawnHint, null, { timeout: 2_000, polling: 16 });
  await bob.page.keyboard.up("Space");

  // The leaderboard counts alice's kill and bob's death.
  await carol.page.waitForFunction(
    () => /alice\s*1\s*0/.test(document.getElementById("leaderboard").innerText.replace(/\n/g, " ")),
    null,
    { timeout: 5_000 },
  );
  // A smaller window zooms out so the whole view still fits, and the HUD still fits around it.
  await carol.page.setViewportSize({ width: 800, height: 480 });
  await carol.page.waitForFunction(() => 2 * 640 * window.skirmishStats().zoom <= 480, null, { timeout: 5_000 });
  await carol.page.screenshot({ path: join(shots, "combat-6-carol-small-window.png") });

  // M mutes, on screen and remembered by the browser (also without WebAudio); a server without /api/rooms leaves the
  // server's count unknown rather than failing.
  assert.equal(await carol.page.evaluate(() => typeof window.AudioContext), "undefined");
  await carol.page.keyboard.press("KeyM");
  await carol.page.waitForFunction(() => window.skirmishStats().muted, null, { timeout: 2_000 });
  assert.equal(await carol.page.evaluate(() => localStorage.getItem("skirmish.muted")), "1");
  assert.match(await carol.page.textContent("#mute"), /Sound off/);
  const counts = await stats(carol.page);
  assert.ok(counts.serverPlayers === null || counts.serverPlayers >= 3, `server count: ${counts.serverPlayers}`);
  for (const page of [alice, bob, carol]) assert.deepEqual(page.record.errors, [], "no page errors");
});
