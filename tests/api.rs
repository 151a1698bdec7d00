//! The public names of DESIGN.md, spelled as users spell them: this file must keep
//! compiling (and its assertions hold) for the contract to be kept.

use gosan::context::{
    background, with_cancel, with_deadline, with_timeout, CancelFunc, Context, ContextError,
};
use gosan::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use gosan::sync::{Cond, Locker, Mutex, Once, RawMutex, RawRwMutex, RwMutex, WaitGroup};
use gosan::time::{after, after_func, now, sleep, Duration, Instant, Ticker, Timer};
use gosan::{
    chan, check, go, goid, gosched, num_goroutine, run, run_with, select, Chan, Config,
    DeadlockReport, Format, Frame, GoroutineDump, LockOrderReport, PanicReport, RaceCell,
    RaceReport, RecvChan, Report, SendChan, Shared, SharedVec, Strategy, TryRecvError,
    TrySendError,
};
use std::sync::Arc;

fn send_sync<T: Send + Sync>() {}
fn debug_clone<T: std::fmt::Debug + Clone>() {}
fn error<T: std::fmt::Debug + std::fmt::Display + std::error::Error>() {}

#[test]
fn types_have_the_promised_traits() {
    send_sync::<Chan<String>>();
    send_sync::<SendChan<String>>();
    send_sync::<RecvChan<String>>();
    send_sync::<Mutex<String>>();
    send_sync::<RwMutex<String>>();
    send_sync::<WaitGroup>();
    send_sync::<Once>();
    send_sync::<RawMutex>();
    send_sync::<RawRwMutex>();
    send_sync::<Shared<String>>();
    send_sync::<SharedVec<String>>();
    send_sync::<RaceCell<String>>();
    send_sync::<Context>();
    send_sync::<CancelFunc>();
    debug_clone::<Report>();
    debug_clone::<RaceReport>();
    debug_clone::<DeadlockReport>();
    debug_clone::<GoroutineDump>();
    debug_clone::<PanicReport>();
    debug_clone::<LockOrderReport>();
    debug_clone::<Frame>();
    debug_clone::<Config>();
    debug_clone::<Strategy>();
    error::<TryRecvError>();
    error::<TrySendError<i32>>();
    error::<ContextError>();
    assert_eq!(Strategy::Pct { depth: 3 }, Strategy::Pct { depth: 3 });
    let _: Format = Format::Text;
    let _ = (
        Format::Json,
        Format::Sarif,
        Strategy::Random,
        Strategy::RoundRobin,
    );
}

#[test]
fn config_builder_has_every_option() {
    let _c: Config = Config::new()
        .seed(1)
        .strategy(Strategy::Pct { depth: 3 })
        .procs(1)
        .detect_races(true)
        .leak_check(true)
        .exitcode(66)
        .halt_on_error(false)
        .log_path("/tmp/gosan")
        .strip_path_prefix("/src/")
        .history_size(2)
        .detect_lock_order(true)
        .format(Format::Json)
        .trace("out.json")
        .shard(2, 8);
}

#[test]
fn every_runtime_name_works_in_one_program() {
    let r = run(|| {
        let c: Chan<i32> = chan(1);
        let (tx, rx): (SendChan<i32>, RecvChan<i32>) = (c.sender(), c.receiver());
        tx.send(1);
        assert_eq!(rx.recv(), Some(1));
        assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
        let v = select! {
            recv(c) -> v => v,
            default => None,
        };
        assert_eq!(v, None);
        assert!(goid() == 1 && num_goroutine() == 1);
        gosched();
        assert_eq!(gosan::blocking(|| 5), 5);

        let m = Arc::new(Mutex::new(0));
        *m.lock() += 1;
        let rw = RwMutex::new(0);
        assert_eq!(*rw.read(), 0);
        *rw.write() = 1;
        let raw = Arc::new(RawMutex::new());
        raw.lock();
        raw.unlock();
        let rrw = Arc::new(RawRwMutex::new());
        rrw.rlock();
        rrw.runlock();
        let reader: Arc<dyn Locker + Send + Sync> = rrw.rlocker();
        reader.lock();
        reader.unlock();
        let cond = Cond::new(raw.clone());
        cond.signal();
        cond.broadcast();
        let wg = WaitGroup::new();
        wg.add(1);
        let w2 = wg.clone();
        go(move || w2.done());
        wg.wait();
        let once = Once::new();
        once.call_once(|| {});
        let a = AtomicU64::new(0);
        a.fetch_add(1, Ordering::SeqCst);
        let _ = (
            AtomicBool::new(false),
            AtomicI32::new(0),
            AtomicI64::new(0),
            AtomicU32::new(0),
            AtomicUsize::new(0),
        );

        let t0: Instant = now();
        sleep(Duration::from_millis(1));
        assert!(now() - t0 >= Duration::from_millis(1));
        let _ = after(Duration::from_millis(1)).recv();
        let t = Timer::new(Duration::from_secs(1));
        assert!(t.stop());
        let _f: Timer = after_func(Duration::from_secs(1), || {});
        let tk = Ticker::new(Duration::from_millis(1));
        tk.stop();

        let (ctx, cancel) = with_cancel(&background());
        let (ctx2, _c2) = with_timeout(&ctx, Duration::from_secs(1));
        let (_ctx3, _c3) = with_deadline(&ctx2, now() + Duration::from_secs(1));
        cancel.cancel();
        assert_eq!(ctx2.err(), Some(ContextError::Canceled));
        assert_eq!(ctx2.done().recv(), None);

        let s = Shared::new(1);
        s.update(|v| *v += 1);
        assert_eq!(s.get(), 2);
        let sv = SharedVec::new();
        sv.push(3);
        assert_eq!(sv.get(0), 3);
        let cell = RaceCell::new(4);
        // SAFETY: one goroutine; the pointer is valid for the call.
        assert_eq!(cell.with(|p| unsafe { *p }), 4);
        gosan::race::write(&raw const *m);
        gosan::race::read(&raw const *m);
        gosan::race::release(&raw const *m);
        gosan::race::acquire(&raw const *m);
        gosan::race::release_merge(&raw const *m);
        gosan::race::read_range([0u8; 4].as_ptr(), 4);
    });
    assert!(r.is_clean(), "{r}");
    let r2 = run_with(Config::new().seed(r.seed), || {});
    assert!(r2.is_clean());
    let r3 = check(Config::new(), 2, || {});
    assert!(r3.is_clean());
}
