// withStepwise compiles the tags in, under Turbopack (next dev, next build) and under
// webpack (--webpack), and keeps the runtime out of the bundle (one registry, PGlite's files).
import { withStepwise } from "stepwise/next";

export default withStepwise({}, { manifest: "stepwise.manifest.json" });
