/**
 * Runs once when the Next.js server starts: the workers live in the server process.
 * Importing the workflows first registers them, so launch() resumes any run a crash left
 * PENDING. The embedded database is ./.stepwise (STEPWISE_DATABASE_URL for a Postgres).
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  await import("./lib/orders");
  const { Stepwise } = await import("stepwise");
  await Stepwise.launch({ logLevel: "error" });
}
