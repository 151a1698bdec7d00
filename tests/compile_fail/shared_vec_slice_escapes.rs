// The slice given to `SharedVec::with` cannot outlive the closure: a later `push`
// could reallocate under it.
fn main() {
    let v = gosan::SharedVec::new();
    v.push(1u64);
    let first: &u64 = v.with(|s| &s[0]);
    v.push(2);
    println!("{first}");
}
