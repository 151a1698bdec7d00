// `RaceCell<Rc<_>>` is not `Sync`: sharing it with another thread is refused.
use std::rc::Rc;
use std::sync::Arc;

fn main() {
    let c = Arc::new(gosan::RaceCell::new(Rc::new(1)));
    let c2 = Arc::clone(&c);
    std::thread::spawn(move || c2.with(|p| p as usize)).join().unwrap();
}
