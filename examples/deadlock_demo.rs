fn main() {
    let r = gosan::run(|| {
        let c: gosan::Chan<i32> = gosan::chan(0);
        let c2 = c.clone();
        gosan::go(move || {
            c2.send(1);
            c2.send(2);
        });
        c.recv();
        let never: gosan::Chan<i32> = gosan::chan(0);
        never.recv();
    });
    print!("{r}");
}
