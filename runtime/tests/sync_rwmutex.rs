//! `sync::RawRwMutex` / `sync::RwMutex<T>`: Go's fatal errors, writer preference,
//! readers admitted together on unlock, Go's wait reasons in deadlock dumps, and
//! reader/writer exclusion under explored schedules.

use gosan_runtime::sync::{Cond, Locker, RawRwMutex, RwMutex};
use gosan_runtime::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

mod common;
use common::spin_until;

fn dbg(m: &RawRwMutex) -> String {
    format!("{m:?}")
}

#[test]
fn runlock_of_unlocked_rwmutex_is_fatal() {
    let r = run(|| RawRwMutex::new().runlock());
    let p = r.panic.expect("fatal error expected");
    assert!(p.fatal);
    assert_eq!(p.message, "sync: RUnlock of unlocked RWMutex");
}

#[test]
fn runlock_while_write_locked_is_fatal() {
    let r = run(|| {
        let m = RawRwMutex::new();
        m.lock();
        m.runlock();
    });
    let p = r.panic.expect("fatal error expected");
    assert!(p.fatal);
    assert_eq!(p.message, "sync: RUnlock of unlocked RWMutex");
}

#[test]
fn unlock_of_unlocked_rwmutex_is_fatal() {
    let r = run(|| RawRwMutex::new().unlock());
    let p = r.panic.expect("fatal error expected");
    assert!(p.fatal);
    assert_eq!(p.message, "sync: Unlock of unlocked RWMutex");
}

#[test]
fn unlock_while_only_read_locked_is_fatal() {
    let r = run(|| {
        let m = RawRwMutex::new();
        m.rlock();
        m.unlock();
    });
    let p = r.panic.expect("fatal error expected");
    assert!(p.fatal);
    assert_eq!(p.message, "sync: Unlock of unlocked RWMutex");
}

#[test]
fn reader_arriving_after_a_waiting_writer_waits_behind_it() {
    let r = check(Config::new().seed(5), 100, || {
        let m = Arc::new(RawRwMutex::new());
        let order = Arc::new(StdMutex::new(Vec::new()));
        let done = chan::<()>(2);
        m.rlock();
        {
            let (m, order, done) = (m.clone(), order.clone(), done.clone());
            go(move || {
                m.lock();
                order.lock().unwrap().push("W");
                m.unlock();
                done.send(());
            });
        }
        spin_until(|| dbg(&m).contains("waiting_writers: 1"));
        // Writer preference: a new reader is refused while the writer waits...
        assert!(!m.try_rlock(), "try_rlock must fail while a writer waits");
        {
            let (m, order, done) = (m.clone(), order.clone(), done.clone());
            go(move || {
                m.rlock();
                order.lock().unwrap().push("R2");
                m.runlock();
                done.send(());
            });
        }
        // ...and blocks in RLock.
        spin_until(|| dbg(&m).contains("waiting_readers: 1"));
        m.runlock();
        done.recv();
        done.recv();
        assert_eq!(*order.lock().unwrap(), ["W", "R2"]);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn recursive_rlock_with_a_waiting_writer_deadlocks_like_go() {
    let r = run(|| {
        let m = Arc::new(RawRwMutex::new());
        m.rlock();
        let m2 = m.clone();
        go(move || m2.lock());
        spin_until(|| dbg(&m).contains("waiting_writers: 1"));
        m.rlock(); // blocks behind the writer, which waits for us: deadlock
    });
    let d = r.deadlock.expect("deadlock expected");
    assert!(d.global);
    let reasons: Vec<(u64, &str)> = d
        .goroutines
        .iter()
        .map(|g| (g.id, g.wait_reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [(1, "sync.RWMutex.RLock"), (2, "sync.RWMutex.Lock")]
    );
}

#[test]
fn writer_queued_behind_a_writer_waits_in_mutex_lock_like_go() {
    // Go's Lock takes `w` (a sync.Mutex) first: a second writer shows sync.Mutex.Lock.
    let r = run(|| {
        let m = Arc::new(RawRwMutex::new());
        m.lock();
        let m2 = m.clone();
        go(move || m2.lock());
        chan::<()>(0).recv();
    });
    let d = r.deadlock.expect("deadlock expected");
    let reasons: Vec<&str> = d
        .goroutines
        .iter()
        .map(|g| g.wait_reason.as_str())
        .collect();
    assert_eq!(reasons, ["chan receive", "sync.Mutex.Lock"]);
}

#[test]
fn unlock_admits_all_waiting_readers_before_the_next_writer() {
    let r = check(Config::new().seed(9), 100, || {
        let m = Arc::new(RawRwMutex::new());
        let readers_done = Arc::new(AtomicUsize::new(0));
        let done = chan::<()>(4);
        m.lock();
        for _ in 0..3 {
            let (m, readers_done, done) = (m.clone(), readers_done.clone(), done.clone());
            go(move || {
                m.rlock();
                gosched();
                readers_done.fetch_add(1, Ordering::SeqCst);
                m.runlock();
                done.send(());
            });
        }
        spin_until(|| dbg(&m).contains("waiting_readers: 3"));
        {
            let (m, readers_done, done) = (m.clone(), readers_done.clone(), done.clone());
            go(move || {
                m.lock();
                assert_eq!(readers_done.load(Ordering::SeqCst), 3, "writer barged");
                m.unlock();
                done.send(());
            });
        }
        spin_until(|| dbg(&m).contains("waiting_writers: 1"));
        m.unlock();
        // All three readers hold the lock at once, before any of them ran; the next
        // writer was handed Go's `w` (no longer queued) but must wait for them.
        assert_eq!(
            dbg(&m),
            "RawRwMutex { write_locked: false, readers: 3, waiting_writers: 0, waiting_readers: 0 }"
        );
        for _ in 0..4 {
            done.recv();
        }
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn readers_share_writers_exclude_under_many_schedules() {
    let r = check(Config::new().seed(2), 300, || {
        let m = Arc::new(RwMutex::new((0u32, 0u32)));
        let readers_inside = Arc::new(AtomicUsize::new(0));
        let done = chan::<()>(4);
        for _ in 0..2 {
            let (m, done) = (m.clone(), done.clone());
            go(move || {
                for _ in 0..3 {
                    let mut g = m.write();
                    g.0 += 1;
                    gosched();
                    g.1 += 1;
                }
                done.send(());
            });
        }
        for _ in 0..2 {
            let (m, done) = (m.clone(), done.clone());
            let inside = readers_inside.clone();
            go(move || {
                for _ in 0..3 {
                    let g = m.read();
                    inside.fetch_add(1, Ordering::SeqCst);
                    let a = g.0;
                    gosched();
                    assert_eq!(a, g.1, "reader saw a half-done write");
                    assert_eq!(a, g.0, "value changed under a read lock");
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
                done.send(());
            });
        }
        for _ in 0..4 {
            done.recv();
        }
        assert_eq!(*m.read(), (6, 6));
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn guards_try_variants_and_accessors() {
    let r = run(|| {
        let m = RwMutex::new(1);
        {
            let a = m.read();
            let b = m.try_read().expect("readers share");
            assert_eq!(*a + *b, 2);
            assert!(m.try_write().is_none(), "readers exclude a writer");
        }
        {
            let mut w = m.try_write().expect("free");
            *w += 1;
            assert!(m.try_read().is_none());
            assert!(m.try_write().is_none());
            assert!(format!("{m:?}").contains("<locked>"));
        }
        *m.write() += 1;
        assert_eq!(format!("{m:?}"), "RwMutex { data: 3, .. }");
        let mut m = m;
        *m.get_mut() += 1;
        assert_eq!(m.into_inner(), 4);
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn rlocker_locks_the_read_side() {
    let r = run(|| {
        let m = Arc::new(RawRwMutex::new());
        let rl = m.rlocker();
        rl.lock();
        rl.lock();
        assert!(dbg(&m).contains("readers: 2"));
        assert!(!m.try_lock());
        rl.unlock();
        rl.unlock();
        assert!(m.try_lock());
        Locker::unlock(&*m);
        // A Cond over the read side: readers wait, the writer changes the
        // condition under the write lock (so it cannot slip between a reader's check
        // and its wait) and signals.
        let c = Arc::new(Cond::new(m.rlocker()));
        let (c2, m2) = (c.clone(), m.clone());
        let flag = Arc::new(AtomicUsize::new(0));
        let f2 = flag.clone();
        go(move || {
            m2.lock();
            f2.store(1, Ordering::SeqCst);
            c2.signal();
            m2.unlock();
        });
        c.l.lock();
        while flag.load(Ordering::SeqCst) == 0 {
            c.wait();
        }
        c.l.unlock();
    });
    assert!(r.is_clean(), "{r}");
}

#[test]
fn uncontended_use_outside_a_run() {
    let m = RawRwMutex::new();
    m.rlock();
    assert!(m.try_rlock());
    assert!(!m.try_lock());
    m.runlock();
    m.runlock();
    m.lock();
    assert!(!m.try_rlock());
    m.unlock();
    let v = RwMutex::new(String::from("x"));
    v.write().push('y');
    assert_eq!(&*v.read(), "xy");
}

#[test]
fn static_rwmutex_is_consistent_after_teardown_with_a_pending_writer() {
    static M: RawRwMutex = RawRwMutex::new();
    // The writer announces itself and parks waiting for main's read lock; the run
    // deadlocks (main waits on a channel) and both are torn down.
    let r = run(|| {
        M.rlock();
        go(|| M.lock());
        chan::<()>(0).recv();
    });
    assert!(r.deadlock.is_some(), "{r}");
    // The abandoned writer was un-announced: readers are admitted again.
    assert_eq!(
        format!("{M:?}"),
        "RawRwMutex { write_locked: false, readers: 1, waiting_writers: 0, waiting_readers: 0 }"
    );
    assert!(M.try_rlock());
    M.runlock();
    M.runlock();
    assert!(M.try_lock());
    M.unlock();
}
