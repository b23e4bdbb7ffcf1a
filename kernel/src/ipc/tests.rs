use super::*;
use alloc::vec;

fn rel(name: &str, provides: &[&str], depends_on: &[&str]) -> Relations {
    Relations {
        name: name.to_string(),
        provides: provides.iter().map(|s| s.to_string()).collect(),
        depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
    }
}

/// logger <- storage <- cli; echo_server <- echo_client; crash_server alone.
fn registry() -> Registry {
    Registry::new(vec![
        rel("logger", &["logger_api"], &[]),
        rel("storage", &["storage_api", "storage_admin"], &["logger"]),
        rel("cli", &["cli_interface"], &["storage"]),
        rel("echo_server", &["echo_api"], &[]),
        rel("echo_client", &[], &["echo_server"]),
        rel("crash_server", &["crash_api"], &[]),
        rel("dup", &["echo_api"], &[]),
    ])
}

const T0: u64 = 1_000_000;
const TIMEOUT_US: u64 = CALL_TIMEOUT_MS * 1000;

#[test]
fn endpoints_resolve_to_their_provider() {
    let r = registry();
    assert_eq!(r.provider_of("storage_admin"), Some("storage"));
    assert_eq!(r.provider_of("nothing"), None);
    // First provider wins.
    assert_eq!(r.provider_of("echo_api"), Some("echo_server"));
    assert!(r.provides("storage", "storage_api"));
    assert!(!r.provides("cli", "storage_api"));
    assert!(!r.provides("nobody", "storage_api"));
}

#[test]
fn only_direct_dependencies_may_be_called() {
    let r = registry();
    assert_eq!(r.resolve("cli", "storage_api"), Ok("storage"));
    assert_eq!(r.resolve("storage", "logger_api"), Ok("logger"));
    // Transitive is not enough.
    assert_eq!(r.resolve("cli", "logger_api"), Err(Error::Denied));
    assert_eq!(r.resolve("echo_client", "crash_api"), Err(Error::Denied));
    assert_eq!(r.resolve("echo_client", "nope"), Err(Error::NotFound));
    // Not even yourself, and unknown callers get nothing.
    assert_eq!(r.resolve("logger", "logger_api"), Err(Error::Denied));
    assert_eq!(r.resolve("ghost", "logger_api"), Err(Error::Denied));
}

fn running() -> Ipc {
    let mut ipc = Ipc::new(registry());
    ipc.bindings.bind(1, "echo_server");
    ipc.bindings.bind(2, "echo_client");
    ipc.bindings.bind(3, "crash_server");
    ipc
}

#[test]
fn call_receive_reply_round_trip() {
    let mut ipc = running();
    // The server waits first.
    assert_eq!(ipc.calls.next_request(1, "echo_api", 4096), Ok(None));
    ipc.calls.wait_for_call(1, "echo_api");
    assert!(ipc.calls.is_receiving(1));
    let (id, wake) = ipc.call(2, "echo_api", b"ping".to_vec(), T0).unwrap();
    assert_eq!(wake, Some(1));
    assert!(!ipc.calls.is_receiving(1));
    // Not done yet.
    assert_eq!(ipc.calls.take_result(2, id), None);
    let d = ipc
        .calls
        .next_request(1, "echo_api", 4096)
        .unwrap()
        .unwrap();
    assert_eq!(d.id, id);
    assert_eq!(d.caller_name, "echo_client");
    assert_eq!(d.request, b"ping");
    // Someone else cannot answer it, nor pick up the result.
    assert_eq!(ipc.calls.reply(3, id, b"x".to_vec()), Err(Error::NotFound));
    assert_eq!(ipc.calls.reply(1, id, b"ping".to_vec()), Ok(2));
    assert_eq!(ipc.calls.take_result(1, id), None);
    assert_eq!(ipc.calls.take_result(2, id), Some(Ok(b"ping".to_vec())));
    assert!(ipc.calls.is_empty());
    // Answered once only.
    assert_eq!(
        ipc.calls.reply(1, id, b"ping".to_vec()),
        Err(Error::NotFound)
    );
}

#[test]
fn calls_queue_in_order_and_ids_are_unique() {
    let mut ipc = running();
    ipc.bindings.bind(4, "cli");
    let (a, wake) = ipc.call(2, "echo_api", b"a".to_vec(), T0).unwrap();
    assert_eq!(wake, None, "the server is not receiving");
    let (b, _) = ipc
        .calls
        .submit(5, "other", 1, "echo_api", b"b".to_vec(), T0)
        .unwrap();
    assert_ne!(a, b);
    assert!(a != 0 && b != 0);
    // Wrong endpoint: nothing.
    assert_eq!(ipc.calls.next_request(1, "other_api", 4096), Ok(None));
    let first = ipc
        .calls
        .next_request(1, "echo_api", 4096)
        .unwrap()
        .unwrap();
    assert_eq!(first.id, a);
}

#[test]
fn permission_and_presence_errors() {
    let mut ipc = running();
    assert_eq!(
        ipc.call(2, "crash_api", vec![], T0).map(|_| ()),
        Err(Error::Denied)
    );
    assert_eq!(
        ipc.call(2, "missing_api", vec![], T0).map(|_| ()),
        Err(Error::NotFound)
    );
    // An unbound process (spawned outside the supervisor) may call nothing.
    assert_eq!(
        ipc.call(9, "echo_api", vec![], T0).map(|_| ()),
        Err(Error::Denied)
    );
    // The provider is not running.
    ipc.process_ended(1);
    assert_eq!(
        ipc.call(2, "echo_api", vec![], T0).map(|_| ()),
        Err(Error::NotFound)
    );
    // Too long.
    ipc.bindings.bind(1, "echo_server");
    assert_eq!(
        ipc.call(2, "echo_api", vec![0; MAX_MESSAGE + 1], T0)
            .map(|_| ()),
        Err(Error::BadLength)
    );
    assert!(ipc.call(2, "echo_api", vec![0; MAX_MESSAGE], T0).is_ok());
    assert!(ipc.may_receive(1, "echo_api"));
    assert!(!ipc.may_receive(2, "echo_api"));
    assert!(!ipc.may_receive(1, "crash_api"));
}

#[test]
fn short_receive_buffer_leaves_the_call_queued() {
    let mut ipc = running();
    let (id, _) = ipc.call(2, "echo_api", vec![7; 100], T0).unwrap();
    assert_eq!(
        ipc.calls.next_request(1, "echo_api", 99),
        Err(Error::BadLength)
    );
    let d = ipc.calls.next_request(1, "echo_api", 100).unwrap().unwrap();
    assert_eq!(d.id, id);
    // Put back (e.g. the buffer was not mapped) and taken again.
    ipc.calls.requeue(id);
    assert_eq!(
        ipc.calls
            .next_request(1, "echo_api", 100)
            .unwrap()
            .unwrap()
            .id,
        id
    );
}

#[test]
fn unanswered_calls_time_out() {
    let mut ipc = running();
    let (queued, _) = ipc.call(2, "echo_api", b"q".to_vec(), T0).unwrap();
    assert_eq!(ipc.calls.next_deadline(), Some(T0 + TIMEOUT_US));
    assert!(ipc.calls.expire(T0 + TIMEOUT_US - 1).is_empty());
    assert_eq!(ipc.calls.expire(T0 + TIMEOUT_US), vec![2]);
    assert_eq!(ipc.calls.next_deadline(), None);
    // Expiring twice does not wake twice.
    assert!(ipc.calls.expire(T0 + 2 * TIMEOUT_US).is_empty());
    assert_eq!(ipc.calls.take_result(2, queued), Some(Err(Error::Timeout)));

    // A received call times out too, and the late reply is refused.
    let (received, _) = ipc.call(2, "echo_api", b"r".to_vec(), T0).unwrap();
    assert!(ipc
        .calls
        .next_request(1, "echo_api", 4096)
        .unwrap()
        .is_some());
    assert_eq!(ipc.calls.expire(T0 + TIMEOUT_US), vec![2]);
    assert_eq!(
        ipc.calls.reply(1, received, b"late".to_vec()),
        Err(Error::NotFound)
    );
    assert_eq!(
        ipc.calls.take_result(2, received),
        Some(Err(Error::Timeout))
    );
}

#[test]
fn provider_death_fails_queued_and_received_calls() {
    let mut ipc = running();
    ipc.bindings.bind(4, "crash_client");
    ipc.registry = Registry::new(vec![
        rel("crash_server", &["crash_api"], &[]),
        rel("crash_client", &[], &["crash_server"]),
        rel("echo_client", &[], &["crash_server"]),
    ]);
    let (a, _) = ipc.call(4, "crash_api", b"a".to_vec(), T0).unwrap();
    let (b, _) = ipc.call(2, "crash_api", b"b".to_vec(), T0).unwrap();
    assert_eq!(
        ipc.calls
            .next_request(3, "crash_api", 4096)
            .unwrap()
            .unwrap()
            .id,
        a
    );
    ipc.calls.wait_for_call(3, "crash_api");
    let mut woken = ipc.process_ended(3);
    woken.sort_unstable();
    assert_eq!(woken, vec![2, 4]);
    assert!(!ipc.calls.is_receiving(3));
    assert_eq!(ipc.calls.take_result(4, a), Some(Err(Error::ProviderGone)));
    assert_eq!(ipc.calls.take_result(2, b), Some(Err(Error::ProviderGone)));
    assert_eq!(ipc.bindings.pid_of("crash_server"), None);
    // No timeout is pending for them any more.
    assert_eq!(ipc.calls.next_deadline(), None);
}

#[test]
fn receiving_again_without_replying_abandons_the_call() {
    let mut ipc = running();
    let (id, _) = ipc.call(2, "echo_api", b"x".to_vec(), T0).unwrap();
    assert!(ipc
        .calls
        .next_request(1, "echo_api", 4096)
        .unwrap()
        .is_some());
    assert_eq!(ipc.calls.abandon_received(1), vec![2]);
    assert_eq!(ipc.calls.take_result(2, id), Some(Err(Error::ProviderGone)));
    assert!(ipc.calls.abandon_received(1).is_empty());
}

#[test]
fn a_dead_callers_calls_are_dropped() {
    let mut ipc = running();
    let (id, _) = ipc.call(2, "echo_api", b"x".to_vec(), T0).unwrap();
    assert!(ipc.process_ended(2).is_empty());
    assert!(ipc.calls.is_empty());
    assert_eq!(ipc.calls.next_request(1, "echo_api", 4096), Ok(None));
    assert_eq!(ipc.calls.reply(1, id, vec![]), Err(Error::NotFound));
}

#[test]
fn bindings_follow_processes() {
    let mut b = Bindings::new();
    b.bind(1, "a");
    b.bind(2, "b");
    assert_eq!(b.entry_of(1), Some("a"));
    assert_eq!(b.pid_of("b"), Some(2));
    // A restarted entry replaces its old process.
    b.bind(3, "a");
    assert_eq!(b.entry_of(1), None);
    assert_eq!(b.pid_of("a"), Some(3));
    b.unbind(3);
    assert_eq!(b.pid_of("a"), None);
}

#[test]
fn reply_bound() {
    let mut ipc = running();
    let (id, _) = ipc.call(2, "echo_api", vec![], T0).unwrap();
    assert!(ipc.calls.next_request(1, "echo_api", 0).unwrap().is_some());
    assert_eq!(
        ipc.calls.reply(1, id, vec![0; MAX_MESSAGE + 1]),
        Err(Error::BadLength)
    );
    assert_eq!(ipc.calls.reply(1, id, vec![0; MAX_MESSAGE]), Ok(2));
}
