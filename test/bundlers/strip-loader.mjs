// A webpack loader standing in for ts-loader/esbuild-loader in the diagnostics test: types out, nothing else.
import { transform } from "esbuild";
export default function stripLoader(source) {
  const done = this.async();
  transform(source, { loader: "ts", format: "esm" }).then((r) => done(null, r.code), done);
}
