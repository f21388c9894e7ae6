/**
 * The plain TypeScript module every build benchmark generates by the hundred (types,
 * a generic class, an import of the previous module), so tspc, esbuild and
 * `stepwise check` are measured on the same kind of project; the files with steps add
 * their own tagged code to it.
 */
export function plainFile(i: number): string {
  const prev = i > 0 ? `import { Model${i - 1}, total${i - 1} } from "./m${i - 1}.js";\n` : "";
  return `${prev}
export interface Model${i} {
  id: string;
  count: number;
  tags: readonly string[];
  nested: { at: Date; values: Map<string, number> };
}

/** Sums a model's values. */
export function total${i}(m: Model${i}): number {
  let sum = m.count;
  for (const v of m.nested.values.values()) sum += v;
  return sum${i > 0 ? ` + (m.tags.length > 100 ? total${i - 1}(m as unknown as Model${i - 1}) : 0)` : ""};
}

export class Store${i}<T extends Model${i}> {
  private readonly items = new Map<string, T>();
  add(item: T): this {
    this.items.set(item.id, item);
    return this;
  }
  find(pred: (t: T) => boolean): T | undefined {
    for (const t of this.items.values()) if (pred(t)) return t;
    return undefined;
  }
  get size(): number {
    return this.items.size;
  }
}

export const make${i} = (id: string): Model${i} => ({ id, count: ${i}, tags: [], nested: { at: new Date(0), values: new Map() } });
${prev ? `export type Both${i} = Model${i} & Partial<Model${i - 1}>;\n` : ""}`;
}

/** The module with steps that build-cost and bundle-cost put in 1 file in 10: tags of each form and a marker. */
export function stepFile(i: number): string {
  return `${plainFile(i)}
import { step } from "stepwise";

/** @step { retriesAllowed: true, maxAttempts: 3 } */
export async function load${i}(id: string): Promise<Model${i}> {
  return make${i}(id);
}

export class Service${i} {
  /** @step */
  static async save(m: Model${i}): Promise<number> {
    return total${i}(m);
  }

  /** @workflow */
  static async sync(id: string): Promise<number> {
    const m = await load${i}(id);
    return Service${i}.save(m);
  }
}

/** @step */
export const audit${i} = async (id: string): Promise<string> => id;

export const notify${i} = step(async (id: string) => id.length);
`;
}
