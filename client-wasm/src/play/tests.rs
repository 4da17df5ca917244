use super::*;

/// A code of the length the protocol uses, whatever that is.
fn code(seed: u64) -> String {
    room_code::from_random(&room_code::random_tag(seed), seed)
}

fn ask(room: Option<&str>, watch: bool) -> Ask {
    Ask {
        room: room.map(str::to_string),
        watch,
    }
}

fn ok(url: &str, room: Field) -> Answer {
    Answer {
        status: 200,
        url: Field::Text(url.to_string()),
        room,
        ..Answer::default()
    }
}

fn refused(status: u16, error: Option<&str>) -> Answer {
    Answer {
        status,
        error: error.map_or(Field::Absent, |e| Field::Text(e.to_string())),
        ..Answer::default()
    }
}

fn target(url: &str, room: Option<&str>) -> Target {
    Target {
        url: url.to_string(),
        room: room.map(str::to_string),
        server: None,
    }
}

#[test]
fn the_query_says_what_was_asked() {
    let room = code(7);
    assert_eq!(ask(None, false).query(), "/api/play");
    assert_eq!(
        ask(Some(&room), false).query(),
        format!("/api/play?room={room}")
    );
    assert_eq!(
        ask(Some(&room), true).query(),
        format!("/api/play?watch={room}")
    );
    // Watch with no code: any room to watch (an empty value, not a missing one).
    assert_eq!(ask(None, true).query(), "/api/play?watch=");
    // Whatever a room holds cannot break out of its query value.
    assert_eq!(
        ask(Some("A B&c=1"), false).query(),
        "/api/play?room=A%20B%26c%3D1"
    );
}

#[test]
fn an_answer_gives_the_url_and_the_room_to_ask_for() {
    let room = code(11);
    let answer = ok("ws://10.0.0.5:7000/ws", Field::Text(room.to_lowercase()));
    assert_eq!(
        read_answer(&answer, &Ask::default(), false),
        Ok(target("ws://10.0.0.5:7000/ws", Some(&room))),
        "the room in its canonical form"
    );
    // null or no room: any room on that server.
    for room in [Field::Null, Field::Absent] {
        let answer = ok("wss://game-1.example:7443/ws", room);
        assert_eq!(
            read_answer(&answer, &Ask::default(), false),
            Ok(target("wss://game-1.example:7443/ws", None))
        );
    }
    // The directory names the server.
    let answer = Answer {
        server: Field::Text("fleet-abc12-xyz".into()),
        ..ok("wss://g.example/ws", Field::Null)
    };
    assert_eq!(
        read_answer(&answer, &Ask::default(), true).map(|t| t.server),
        Ok(Some("fleet-abc12-xyz".to_string()))
    );
}

#[test]
fn a_secure_page_connects_with_wss() {
    let answer = ok("ws://play.example:8080/ws", Field::Null);
    assert_eq!(
        read_answer(&answer, &Ask::default(), true).map(|t| t.url),
        Ok("wss://play.example:8080/ws".to_string())
    );
    assert_eq!(
        read_answer(&answer, &Ask::default(), false).map(|t| t.url),
        Ok("ws://play.example:8080/ws".to_string())
    );
}

#[test]
fn an_answer_that_makes_no_sense_is_refused_in_words() {
    let long = format!("ws://{}/ws", "a".repeat(MAX_URL_BYTES));
    let bad_urls = [
        Field::Absent,
        Field::Null,
        Field::Other,
        Field::Text(String::new()),
        Field::Text("http://play.example/ws".into()),
        Field::Text("ws:///ws".into()),
        Field::Text("ws://play example/ws".into()),
        Field::Text("ws://play.example/\u{0}".into()),
        Field::Text("/ws".into()),
        Field::Text(long),
    ];
    for url in bad_urls {
        let answer = Answer {
            status: 200,
            url: url.clone(),
            ..Answer::default()
        };
        let said = read_answer(&answer, &Ask::default(), false).expect_err("no place to connect");
        assert!(said.contains("makes no sense"), "{url:?}: {said}");
    }
    for room in [Field::Text("not a code".into()), Field::Other] {
        let said = read_answer(&ok("ws://h:1/ws", room.clone()), &Ask::default(), false)
            .expect_err("a room that is no code");
        assert!(said.contains("not a room code"), "{room:?}: {said}");
    }
}

#[test]
fn a_refusal_shows_its_error_and_503_says_try_again() {
    let room = code(3);
    let asked = ask(Some(&room), false);
    // The error text is shown as a sentence, naming the room asked for.
    let text = format!("room {room} is full");
    assert_eq!(
        read_answer(&refused(404, Some(&text)), &asked, false),
        Err(format!("Room {room} is full."))
    );
    assert_eq!(
        read_answer(&refused(404, Some("that room has ended")), &asked, false),
        Err(format!("Room {room}: That room has ended."))
    );
    assert_eq!(
        read_answer(&refused(404, None), &Ask::default(), false),
        Err("That room has ended or is full.".to_string())
    );
    // 503: no seat, or the directory is down: the words say to try again, once.
    let down = "the game directory cannot reach the Agones allocator; try again in a moment";
    assert_eq!(
        read_answer(&refused(503, Some(down)), &Ask::default(), false),
        Err(
            "The game directory cannot reach the Agones allocator; try again in a moment."
                .to_string()
        )
    );
    assert_eq!(
        read_answer(
            &refused(503, Some("no server has a seat")),
            &Ask::default(),
            false
        ),
        Err("No server has a seat. Try again in a moment.".to_string())
    );
    assert_eq!(
        read_answer(&refused(503, None), &Ask::default(), false),
        Err("No game server has a free seat right now. Try again in a moment.".to_string())
    );
    assert_eq!(
        read_answer(&refused(502, None), &Ask::default(), false),
        Err("The server answered 502 when asked where to play. Try again in a moment.".to_string())
    );
    // A body that is not JSON (a proxy's page) has no error field.
    let said = read_answer(&refused(405, None), &Ask::default(), false).expect_err("refused");
    assert!(said.contains("405"), "{said}");
}

#[test]
fn an_error_text_is_one_bounded_line() {
    let answer = refused(404, Some("line one\n\tline\u{7}two   "));
    assert_eq!(
        read_answer(&answer, &Ask::default(), false),
        Err("Line one line two.".to_string())
    );
    let long = "é".repeat(3 * MAX_ERROR_CHARS);
    let said =
        read_answer(&refused(404, Some(&long)), &Ask::default(), false).expect_err("refused");
    assert_eq!(said.chars().count(), MAX_ERROR_CHARS);
    assert!(said.ends_with('…'));
}

#[test]
fn failures_to_ask_say_what_happened_and_to_try_again() {
    let unreachable = failure_text(AskFailure::Unreachable);
    let late = failure_text(AskFailure::TimedOut);
    assert!(
        unreachable.contains("cannot reach the server"),
        "{unreachable}"
    );
    assert!(late.contains("in time"), "{late}");
    assert!(unreachable.contains("Try again") && late.contains("Try again"));
}

#[test]
fn a_join_asks_first_and_hellos_the_answers_room() {
    let room = code(21);
    let mut route = Route::new(Ask::default());
    assert_eq!(route.next_step(), Next::Ask("/api/play".into()));
    assert_eq!(route.hello_room(), None);
    let url = route.on_answer(Ok(target("ws://a:1/ws", Some(&room))));
    assert_eq!(url, Ok("ws://a:1/ws".to_string()));
    assert_eq!(route.hello_room(), Some(room.clone()));
    // A refusal in words leaves nothing to connect to.
    let mut other = Route::new(Ask::default());
    assert_eq!(other.on_answer(Err("down".into())), Err("down".to_string()));
    assert_eq!(other.target(), None);
}

#[test]
fn reconnects_go_back_to_the_seats_url_without_asking() {
    let (room, joined) = (code(5), code(6));
    let mut route = Route::new(ask(Some(&room), false));
    assert_eq!(
        route.next_step(),
        Next::Ask(format!("/api/play?room={room}"))
    );
    route
        .on_answer(Ok(target("wss://b:2/ws", Some(&room))))
        .expect("answered");
    // Lost before any Welcome: no seat there, so ask again.
    route.on_lost();
    assert_eq!(
        route.next_step(),
        Next::Ask(format!("/api/play?room={room}"))
    );
    route
        .on_answer(Ok(target("wss://b:2/ws", Some(&room))))
        .expect("answered");
    route.on_welcome(&joined);
    assert_eq!(route.hello_room(), Some(joined.clone()), "the room joined");
    for _ in 0..MAX_SEAT_RETRIES {
        assert_eq!(route.next_step(), Next::Connect("wss://b:2/ws".into()));
        route.on_lost();
    }
    // Away longer than a seat is held: a fresh join asks again.
    assert_eq!(
        route.next_step(),
        Next::Ask(format!("/api/play?room={room}"))
    );
    assert_eq!(route.target(), None);
}

#[test]
fn a_welcome_resets_the_seats_failures() {
    let mut route = Route::new(Ask::default());
    route
        .on_answer(Ok(target("ws://c:3/ws", None)))
        .expect("answered");
    route.on_welcome(&code(1));
    for _ in 0..3 * MAX_SEAT_RETRIES {
        assert_eq!(route.next_step(), Next::Connect("ws://c:3/ws".into()));
        route.on_lost();
        route.on_welcome(&code(1));
    }
}

#[test]
fn a_forgotten_seat_asks_again() {
    let mut route = Route::new(Ask::default());
    route
        .on_answer(Ok(target("ws://c:3/ws", None)))
        .expect("answered");
    route.on_welcome(&code(1));
    route.forget_seat();
    assert_eq!(route.next_step(), Next::Ask("/api/play".into()));
}

#[test]
fn a_reload_resumes_on_the_stored_url() {
    let room = code(9);
    let mut route = Route::resume(
        ask(Some(&room), false),
        "ws://d:4/ws",
        Some(room.clone()),
        false,
    );
    assert_eq!(route.next_step(), Next::Connect("ws://d:4/ws".into()));
    assert_eq!(route.hello_room(), Some(room.clone()));
    // The same rule as an answer's: wss on a secure page; a bad url asks instead.
    let mut secure = Route::resume(Ask::default(), "ws://d:4/ws", None, true);
    assert_eq!(secure.next_step(), Next::Connect("wss://d:4/ws".into()));
    let mut bad = Route::resume(ask(Some(&room), false), "javascript:alert(1)", None, false);
    assert_eq!(bad.next_step(), Next::Ask(format!("/api/play?room={room}")));
}

#[test]
fn a_room_the_page_did_not_choose_is_asked_for_again_three_times() {
    for reason in [
        RefuseReason::RoomFull,
        RefuseReason::ServerFull,
        RefuseReason::SpectatorsFull,
    ] {
        let mut route = Route::new(Ask::default());
        for _ in 0..MAX_REASKS {
            route
                .on_answer(Ok(target("ws://e:5/ws", Some(&code(2)))))
                .expect("answered");
            assert_eq!(
                route.on_refused(reason),
                AfterRefusal::AskAgain,
                "{reason:?}"
            );
            assert_eq!(route.next_step(), Next::Ask("/api/play".into()));
        }
        route
            .on_answer(Ok(target("ws://e:5/ws", Some(&code(2)))))
            .expect("answered");
        assert_eq!(route.on_refused(reason), AfterRefusal::Show, "{reason:?}");
    }
    // A room the answer named that closed meanwhile: ask again too; no room named: none is open.
    let mut route = Route::new(ask(None, true));
    route
        .on_answer(Ok(target("ws://e:5/ws", Some(&code(2)))))
        .expect("answered");
    assert_eq!(
        route.on_refused(RefuseReason::NoSuchRoom),
        AfterRefusal::AskAgain
    );
    route
        .on_answer(Ok(target("ws://e:5/ws", None)))
        .expect("answered");
    assert_eq!(
        route.on_refused(RefuseReason::NoSuchRoom),
        AfterRefusal::Show
    );
}

#[test]
fn a_room_the_player_chose_is_refused_at_once() {
    let room = code(4);
    for watch in [false, true] {
        let mut route = Route::new(ask(Some(&room), watch));
        route
            .on_answer(Ok(target("ws://f:6/ws", Some(&room))))
            .expect("answered");
        for reason in [
            RefuseReason::RoomFull,
            RefuseReason::NoSuchRoom,
            RefuseReason::SpectatorsFull,
        ] {
            assert_eq!(route.on_refused(reason), AfterRefusal::Show, "{reason:?}");
        }
    }
    // Other refusals are not about the room.
    let mut route = Route::new(Ask::default());
    route
        .on_answer(Ok(target("ws://f:6/ws", None)))
        .expect("answered");
    assert_eq!(
        route.on_refused(RefuseReason::AddressLimit),
        AfterRefusal::Show
    );
    // Nor is a seat once held (a spectator reconnecting to a room that filled up).
    route.on_welcome(&room);
    assert_eq!(
        route.on_refused(RefuseReason::SpectatorsFull),
        AfterRefusal::Show
    );
}

#[test]
fn refusals_name_the_room_the_player_chose() {
    let room = code(8);
    let full = refusal_text(RefuseReason::RoomFull, Some(&room), true);
    assert!(full.contains(&room) && full.contains("full"), "{full}");
    let closed = refusal_text(RefuseReason::NoSuchRoom, Some(&room), true);
    assert!(closed.contains(&format!("{room} is not open")), "{closed}");
    assert!(
        refusal_text(RefuseReason::NoSuchRoom, None, false).contains("No room is open to watch")
    );
    // The answer's pick, refused after every retry: no code the player never saw.
    for reason in [RefuseReason::RoomFull, RefuseReason::NoSuchRoom] {
        let taken = refusal_text(reason, Some(&room), false);
        assert!(
            !taken.contains(&room) && taken.contains("Try again"),
            "{taken}"
        );
    }
    let server = refusal_text(RefuseReason::ServerFull, None, true);
    assert!(server.contains("Try again"), "{server}");
}

#[test]
fn the_hint_for_a_bad_code_follows_the_code_length() {
    let text = not_a_code_text("no!");
    assert!(
        text.contains(&format!("codes are {ROOM_CODE_CHARS} letters")),
        "{text}"
    );
    let example = text
        .rsplit("like ")
        .next()
        .and_then(|e| e.strip_suffix(").").map(str::to_string))
        .expect("an example");
    assert_eq!(room_code::parse(&example), Some(example.clone()), "{text}");
}

#[test]
fn a_game_server_that_cannot_be_reached_ends_the_join_with_words() {
    // Answered, but every connection is lost before a Welcome (the server is down, or refuses the
    // page's origin or scheme): a few attempts, asking each time, then the card says why.
    let mut route = Route::new(Ask::default());
    for _ in 0..MAX_UNREACHED {
        assert_eq!(route.next_step(), Next::Ask("/api/play".into()));
        route
            .on_answer(Ok(target("ws://g:7/ws", None)))
            .expect("answered");
        route.on_lost();
    }
    match route.next_step() {
        Next::GiveUp(text) => {
            assert!(text.contains("ws://g:7/ws"), "{text}");
            assert!(text.contains("Try again"), "{text}");
        }
        other => panic!("expected to give up, got {other:?}"),
    }
    // One Welcome in between resets the count: a server that was reached is retried as a seat.
    let mut route = Route::new(Ask::default());
    route
        .on_answer(Ok(target("ws://g:7/ws", None)))
        .expect("answered");
    route.on_lost();
    route.on_lost();
    route.on_welcome(&code(9));
    route.on_lost();
    assert_eq!(route.next_step(), Next::Connect("ws://g:7/ws".into()));
}
