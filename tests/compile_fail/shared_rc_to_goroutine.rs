// `Shared<Rc<_>>` is not `Send`: two goroutines could otherwise bump one
// non-atomic reference count (and, under the parallel scheduler, from two threads).
use std::rc::Rc;

fn main() {
    let _ = gosan::run(|| {
        let x = gosan::Shared::new(Rc::new(1));
        let y = x.clone();
        gosan::go(move || {
            y.with(|rc| drop(Rc::clone(rc)));
        });
        x.with(|rc| drop(Rc::clone(rc)));
    });
}
