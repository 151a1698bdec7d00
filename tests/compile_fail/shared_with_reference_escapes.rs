// The `&T` given to `Shared::with` lives only as long as the closure's borrow.
fn main() {
    let x = gosan::Shared::new(vec![1u8, 2]);
    let escaped: &Vec<u8> = x.with(|v| v);
    x.with_mut(|v| v.clear());
    println!("{escaped:?}");
}
