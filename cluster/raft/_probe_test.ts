import { bytes } from "./_test_network.ts";
import { run } from "./raft_random_test.ts";
Deno.test("probe", () => {
  const net = run(336, true);
  const l = net.leaders()[0];
  net.node(l).propose(bytes("final"));
  net.tickAll(3);
  const st = net.node(l).status();
  console.log(l, JSON.stringify(st.conf), JSON.stringify(st.progress));
  for (const id of net.sims.keys()) {
    const s = net.node(id).status();
    console.log(
      id,
      s.role,
      s.term,
      s.leaderId,
      s.commit,
      s.applied,
      s.lastIndex,
      s.firstIndex,
      JSON.stringify(s.conf),
      net.sim(id).app.length,
      JSON.stringify(s.dropped),
    );
  }
  net.tickAll(50);
  for (const id of net.sims.keys()) {
    console.log(id, net.sim(id).app.length, net.node(id).status().commit);
  }
});
