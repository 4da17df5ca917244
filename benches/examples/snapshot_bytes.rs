//! Where snapshot bytes go: runs an in-process room-sized world with bot-like play and reports, for a
//! sample of viewers, the mean encoded bytes per snapshot by section.
//!
//! `cargo run --release -p skirmish-bench --example snapshot_bytes -- [players] [radius_units] [snapshot_every_ticks] [fire]`

use skirmish_bench::scenario::{populated_world, Dice};
use skirmish_server::snapshot::{Known, Scratch, SnapshotFrame, View};
use skirmish_shared::codec::decode_server;
use skirmish_shared::codec::sections::{self, IdGaps, KIND_PLAYER, KIND_PROJECTILE};
use skirmish_shared::protocol::{buttons, EntityState, InputFrame, Launch, PlayerField, ServerMsg};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let players: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let radius: i32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(640);
    let every: u32 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(2);
    let fire = args.get(4).is_none_or(|a| a != "nofire");
    let (mut world, keys) = populated_world(players, 1);
    let mut dice = Dice::new(9);
    // Per player: direction, aim, firing, and when each changes next (in ticks).
    let mut intent: Vec<(i8, i8, u16, bool, u32, u32, u32)> =
        keys.iter().map(|_| (0, 0, 0, false, 0, 0, 0)).collect();
    let map = world.map().clone();
    let mut frame = SnapshotFrame::new(map.width_coords(), map.height_coords(), radius * 16);
    let mut scratch = Scratch::default();
    let viewers: Vec<usize> = keys
        .iter()
        .copied()
        .step_by((players / 50).max(1))
        .collect();
    let mut known: Vec<Option<Known>> = vec![None; viewers.len()];
    let mut totals = [0usize; 12];
    let mut snapshots = 0usize;
    let mut last = None;
    for t in 1..=600u32 {
        let mut inputs = Vec::with_capacity(keys.len());
        for (i, &key) in keys.iter().enumerate() {
            let it = &mut intent[i];
            if t >= it.4 {
                let c = dice.roll(9) as i8;
                it.0 = c % 3 - 1;
                it.1 = c / 3 - 1;
                it.4 = t + 30 + dice.roll(90) as u32;
            }
            if fire && t >= it.5 {
                it.2 = dice.roll(65_536) as u16;
                it.5 = t + 18 + dice.roll(72) as u32;
            }
            if fire && t >= it.6 {
                it.3 = dice.roll(10) < 3;
                it.6 = t + 24 + dice.roll(96) as u32;
            }
            let input = InputFrame {
                seq: t,
                move_x: it.0,
                move_y: it.1,
                aim: it.2,
                buttons: if it.3 { buttons::FIRE } else { 0 },
                ..InputFrame::default()
            };
            inputs.push((key, input));
        }
        world.tick(&inputs);
        if t % every != 0 {
            continue;
        }
        frame.capture(&world, last);
        last = Some(frame.tick());
        for (v, &key) in viewers.iter().enumerate() {
            let pos = world.player(key).map(|p| p.pos).unwrap_or_default();
            let mut out = Vec::new();
            let next = frame.write_for(
                &world,
                View::at(pos, known[v].as_ref()),
                &mut scratch,
                &mut out,
            );
            let was_full = known[v].is_none();
            known[v] = Some(next);
            if was_full || t < 120 {
                continue;
            }
            let Ok(ServerMsg::Snapshot(s)) = decode_server(&out) else {
                panic!("bad snapshot")
            };
            snapshots += 1;
            totals[0] += out.len();
            // Each entry's packed size, its id gap written as the snapshot writes it.
            let mut scratch = Vec::new();
            let mut ids = IdGaps::default();
            for e in &s.entered {
                scratch.clear();
                match e {
                    EntityState::Player(p) => {
                        ids.put_kind(&mut scratch, p.id, KIND_PLAYER);
                        sections::put_player_body(&mut scratch, p);
                        totals[1] += scratch.len();
                    }
                    EntityState::Projectile(p) => {
                        ids.put_kind(&mut scratch, p.id, KIND_PROJECTILE);
                        sections::put_projectile_body(&mut scratch, p);
                        match p.launch {
                            Launch::Shooter(_) | Launch::ShooterAim(..) => {
                                totals[3] += scratch.len();
                                totals[10] += 1;
                            }
                            Launch::At(_) => {
                                totals[2] += scratch.len();
                                totals[11] += 1;
                            }
                        }
                    }
                }
            }
            let mut ids = IdGaps::default();
            for u in &s.updated {
                scratch.clear();
                ids.put(&mut scratch, u.id);
                totals[4] += scratch.len() + 1; // the id's gap and the field byte
                scratch.clear();
                sections::put_update_body(&mut scratch, &u.fields);
                // A recent turn fits the field byte: what the fields add beyond it is theirs.
                let mut rest = scratch.len() - 1;
                for f in u
                    .fields
                    .iter()
                    .filter(|f| !matches!(f, PlayerField::Turn { .. }))
                {
                    let slot = match f {
                        PlayerField::Aim(_) => 6,
                        PlayerField::Hp(_) | PlayerField::Status(_) => 7,
                        _ => 5,
                    };
                    scratch.clear();
                    sections::put_field(&mut scratch, f);
                    totals[slot] += scratch.len();
                    rest -= scratch.len();
                }
                totals[5] += rest;
            }
            scratch.clear();
            sections::put_left(&mut scratch, &s.left);
            totals[8] += scratch.len();
            totals[9] += s.entered.len();
        }
    }
    let n = snapshots.max(1) as f64;
    let hz = 60.0 / f64::from(every);
    println!("{players} players, view radius {radius} units, a snapshot every {every} ticks ({hz} Hz), firing {fire}");
    let labels = [
        "total",
        "entered players",
        "entered projectiles, from a point",
        "entered projectiles, from a shooter",
        "update headers",
        "turns and motion keys",
        "aim",
        "hp/status",
        "left",
        "(entered count)",
        "(from a shooter count)",
        "(from a point count)",
    ];
    let sections: usize = totals[1..=8].iter().sum();
    for (label, total) in labels.iter().zip(totals) {
        println!("  {label:>36}: {:8.1} per snapshot", total as f64 / n);
    }
    println!(
        "  {:>36}: {:8.1} per snapshot",
        "header, section lengths, events",
        (totals[0] - sections) as f64 / n
    );
    println!(
        "  => {:.0} bytes/s per player (snapshot payload only)",
        totals[0] as f64 / n * hz
    );
}
