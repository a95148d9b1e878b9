/**
 * `edge_floor_bench.ts`'s Deno counterpart of the `bare` Worker: `Deno.serve` reading each
 * request's body and answering the node's own publish answer (`FLOOR_ANSWER`) by itself, on
 * `127.0.0.1:PORT`: what Deno's server costs before any gateway code runs.
 *
 * @module
 */

const answer = JSON.parse(Deno.env.get("FLOOR_ANSWER")!) as {
  status: number;
  headers: Record<string, string>;
  text: string;
};
Deno.serve(
  { hostname: "127.0.0.1", port: Number(Deno.env.get("PORT")), onListen: () => {} },
  async (request) => {
    await request.text();
    return new Response(answer.text, { status: answer.status, headers: answer.headers });
  },
);
