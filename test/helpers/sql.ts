/** Direct access to the launched runtime's system database, for tests that inspect or tamper with rows. */
import { requireExecutor } from "../../runtime/executor.js";

export async function sql<R = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
  return (await requireExecutor().sysdb.driver.query<R>(text, params)).rows;
}
