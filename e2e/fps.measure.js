// Measures the browser client's frame rate with a full room in view: a server with a view radius
// larger than the map, 63 `skirmish-loadtest` bots playing the arena, and one headless Chromium
// page whose `skirmishStats().fps` is sampled once a second. A measurement, not part of the suite
// (`node --test` alone does not pick it up; its figures depend on the machine): run it by hand after
// building the server, the load-test tool and the client bundle:
//   cd e2e && FPS_SECONDS=20 FPS_BOTS=63 node --test fps.measure.js
// It prints one JSON line with the samples' median, minimum and maximum and the players in view, and
// checks only that the room filled the view and frames kept coming.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { joinGame, openPage, root, shots, startServer, stats } from "./support.js";

const seconds = Number(process.env.FPS_SECONDS ?? 20);
const bots = Number(process.env.FPS_BOTS ?? 63);

test(`frames per second with ${bots + 1} players in view`, { timeout: 300_000 }, async () => {
  const url = await startServer([
    "--view-radius", "2600", "--max-connections-per-ip", "200", "--connect-rate-per-ip", "200",
    "--join-rate-per-ip", "200",
  ]);
  const loadtest = spawn(join(root, "target", "release", "skirmish-loadtest"), [
    "--url", url.replace("http://", "ws://") + "/ws", "--bots", String(bots), "--ramp", "3",
    "--duration", String(seconds + 60), "--quiet",
  ], { stdio: "ignore" });
  after(() => loadtest.kill("SIGTERM"));
  const { page } = await openPage("fps");
  await joinGame(page, url, "watcher");
  await page.waitForFunction((n) => window.skirmishStats().visiblePlayers >= n, bots + 1, { timeout: 60_000 });
  // Let the frame counter settle, then sample once a second.
  await page.waitForTimeout(3_000);
  const samples = [];
  const costs = [];
  let inView = Infinity;
  for (let i = 0; i < seconds; i++) {
    await page.waitForTimeout(1_000);
    const s = await stats(page);
    samples.push(s.fps);
    costs.push(s.frameCostMs);
    inView = Math.min(inView, s.visiblePlayers);
  }
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, "fps-64-players.png") });
  samples.sort((a, b) => a - b);
  costs.sort((a, b) => a - b);
  const round = (v) => Math.round(v * 10) / 10;
  console.log(JSON.stringify({
    bots, seconds, minPlayersInView: inView, fpsMedian: round(samples[Math.floor(samples.length / 2)]),
    fpsMin: round(samples[0]), fpsMax: round(samples[samples.length - 1]),
    frameCostMsMedian: round(costs[Math.floor(costs.length / 2)] * 10) / 10,
    frameCostMsMax: round(costs[costs.length - 1] * 10) / 10, loadAverage: loadavg()[0],
  }));
  assert.ok(inView >= bots + 1, `every player stayed in view: ${inView}`);
  assert.ok(samples[0] > 0, "frames kept coming");
});
