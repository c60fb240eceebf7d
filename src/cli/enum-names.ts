import type { DescEnum } from '@bufbuild/protobuf';

/** The prefix buf lint puts on every value ("OVERLAP_POLICY_"), derived from the zero value's name. */
function prefixOf(desc: DescEnum): string {
  const zero = desc.values.find((v) => v.number === 0)?.name ?? '';
  return zero.endsWith('_UNSPECIFIED') ? zero.slice(0, -'UNSPECIFIED'.length) : '';
}

/** An enum value the way people write and read it: "BUFFER_ONE", not "OVERLAP_POLICY_BUFFER_ONE". */
export function enumLabel(desc: DescEnum, value: number): string {
  const name = desc.values.find((v) => v.number === value)?.name;
  if (name === undefined) return String(value);
  const prefix = prefixOf(desc);
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

/** The values people may choose (UNSPECIFIED left out), in the friendly lower-case form flags use. */
export function enumChoices(desc: DescEnum): string[] {
  return desc.values.filter((v) => v.number !== 0).map((v) => enumLabel(desc, v.number).toLowerCase().replace(/_/g, '-'));
}

/**
 * Accepts "buffer-one", "BUFFER_ONE", "buffer_one" and "OVERLAP_POLICY_BUFFER_ONE" alike, so flags
 * and task files can use the short form; undefined for anything else (UNSPECIFIED included).
 */
export function parseEnumLabel(desc: DescEnum, text: string): number | undefined {
  const upper = text.trim().toUpperCase().replace(/-/g, '_');
  const prefix = prefixOf(desc);
  const value = desc.values.find((v) => v.name === upper || v.name === prefix + upper);
  return value === undefined || value.number === 0 ? undefined : value.number;
}

/** The full proto name of a value ("OVERLAP_POLICY_SKIP"), what protobuf JSON expects. */
export function enumProtoName(desc: DescEnum, value: number): string | undefined {
  return desc.values.find((v) => v.number === value)?.name;
}
