/** The operations every GTID set offers, whatever its flavor. */
export type Flavor = 'mysql' | 'mariadb';

export interface GtidSet {
  readonly flavor: Flavor;
  isEmpty(): boolean;
  /** `this ⊆ other`. Throws GtidError if `other` is of another flavor. */
  isSubsetOf(other: GtidSet): boolean;
  equals(other: GtidSet): boolean;
  union(other: GtidSet): GtidSet;
  intersect(other: GtidSet): GtidSet;
  /** What this set has that `other` lacks. */
  subtract(other: GtidSet): GtidSet;
  /** Canonical text, exactly as the server prints it. */
  toString(): string;
  /** Canonical text on one line. */
  toCompactString(): string;
}
