// The `&mut T` given to `Shared::with_mut` cannot outlive its exclusive borrow.
fn main() {
    let x = gosan::Shared::new(String::new());
    let escaped: &mut String = x.with_mut(|s| s);
    escaped.push('!');
}
