/**
 * The information elements NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) templates name, and what
 * the decoder does with each: element ids (IE), decoder actions (K), the role table mapping one to
 * the other (with exclusive groups, e.g. one start time out of several), and the encodings a field
 * may use. Tables only; built once at load.
 */

/** IANA IPFIX information element ids (v9 field types 1..127 are the same numbers). */
export const IE = {
  octetDeltaCount: 1, // v9 IN_BYTES
  packetDeltaCount: 2, // v9 IN_PKTS
  deltaFlowCount: 3, // v9 FLOWS
  protocolIdentifier: 4,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  ingressInterface: 10, // v9 INPUT_SNMP
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  egressInterface: 14, // v9 OUTPUT_SNMP
  bgpSourceAsNumber: 16, // v9 SRC_AS
  bgpDestinationAsNumber: 17, // v9 DST_AS
  flowEndSysUpTime: 21, // v9 LAST_SWITCHED
  flowStartSysUpTime: 22, // v9 FIRST_SWITCHED
  postOctetDeltaCount: 23, // v9 OUT_BYTES
  postPacketDeltaCount: 24, // v9 OUT_PKTS
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  samplingInterval: 34, // v9 SAMPLING_INTERVAL
  samplingAlgorithm: 35, // v9 SAMPLING_ALGORITHM
  samplerId: 48, // v9 FLOW_SAMPLER_ID
  samplerMode: 49, // v9 FLOW_SAMPLER_MODE
  samplerRandomInterval: 50, // v9 FLOW_SAMPLER_RANDOM_INTERVAL
  ipVersion: 60, // v9 IP_PROTOCOL_VERSION
  octetTotalCount: 85,
  packetTotalCount: 86,
  flowStartSeconds: 150,
  flowEndSeconds: 151,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
  flowStartMicroseconds: 154,
  flowEndMicroseconds: 155,
  flowStartNanoseconds: 156,
  flowEndNanoseconds: 157,
  flowStartDeltaMicroseconds: 158,
  flowEndDeltaMicroseconds: 159,
  systemInitTimeMilliseconds: 160,
  selectorId: 302,
  selectorAlgorithm: 304,
  samplingPacketInterval: 305,
  samplingPacketSpace: 306,
  samplingSize: 309,
  samplingPopulation: 310,
  samplingProbability: 311,
} as const;

/** What the decoder does with one field of a plan. Numbers, so a plan is a Uint8Array (a table, like IE). */
export const K = {
  SKIP: 0,
  BYTES: 1,
  PACKETS: 2,
  PROTO: 3,
  SRC_PORT: 4,
  DST_PORT: 5,
  SRC4: 6,
  DST4: 7,
  SRC6: 8,
  DST6: 9,
  IN_IF: 10,
  OUT_IF: 11,
  SRC_AS: 12,
  DST_AS: 13,
  START_UPTIME: 14,
  END_UPTIME: 15,
  START_SEC: 16,
  END_SEC: 17,
  START_MS: 18,
  END_MS: 19,
  START_NTP: 20,
  END_NTP: 21,
  START_DELTA_US: 22,
  END_DELTA_US: 23,
  SAMPLING_INTERVAL: 24,
  SAMPLER_ID: 25,
  PACKET_INTERVAL: 26,
  PACKET_SPACE: 27,
  SAMPLING_SIZE: 28,
  SAMPLING_POPULATION: 29,
  SAMPLING_PROBABILITY: 30,
  SYSTEM_INIT_MS: 31,
} as const;

/** IPFIX variable-length marker in a field specifier (RFC 7011 §7). */
export const VARIABLE_LENGTH = 65535;
/** Hard ceiling on fields per template: a 65535-byte set cannot describe more. */
export const MAX_FIELDS_HARD = 16384;

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
export const NTP_UNIX_OFFSET_S = 2208988800;
export const TWO_32 = 4294967296;

/**
 * Role of each element we interpret, in flat tables indexed by element id (all ours are below
 * 512): its kind and, for roles that must come from one field only, an exclusive group (1 bytes,
 * 2 packets, 3 start, 4 end) and a priority, lower wins when a template carries several (e.g.
 * flowStartMilliseconds beats flowStartSysUpTime).
 */
const ROLE_TABLE_SIZE = 512;
const ROLE_KIND = new Uint8Array(ROLE_TABLE_SIZE);
export const ROLE_GROUP = new Uint8Array(ROLE_TABLE_SIZE);
export const ROLE_PRIORITY = new Uint8Array(ROLE_TABLE_SIZE);
/** Exclusive groups, numbered 1..4 (0 = none). */
export const ROLE_GROUPS = 5;

function role(ie: number, kind: number, group = 0, priority = 0): void {
  ROLE_KIND[ie] = kind;
  ROLE_GROUP[ie] = group;
  ROLE_PRIORITY[ie] = priority;
}
role(IE.octetDeltaCount, K.BYTES, 1, 0);
role(IE.postOctetDeltaCount, K.BYTES, 1, 1);
role(IE.octetTotalCount, K.BYTES, 1, 2);
role(IE.packetDeltaCount, K.PACKETS, 2, 0);
role(IE.postPacketDeltaCount, K.PACKETS, 2, 1);
role(IE.packetTotalCount, K.PACKETS, 2, 2);
role(IE.protocolIdentifier, K.PROTO);
role(IE.sourceTransportPort, K.SRC_PORT);
role(IE.destinationTransportPort, K.DST_PORT);
role(IE.sourceIPv4Address, K.SRC4);
role(IE.destinationIPv4Address, K.DST4);
role(IE.sourceIPv6Address, K.SRC6);
role(IE.destinationIPv6Address, K.DST6);
role(IE.ingressInterface, K.IN_IF);
role(IE.egressInterface, K.OUT_IF);
role(IE.bgpSourceAsNumber, K.SRC_AS);
role(IE.bgpDestinationAsNumber, K.DST_AS);
role(IE.flowStartMilliseconds, K.START_MS, 3, 0);
role(IE.flowStartMicroseconds, K.START_NTP, 3, 1);
role(IE.flowStartNanoseconds, K.START_NTP, 3, 2);
role(IE.flowStartSeconds, K.START_SEC, 3, 3);
role(IE.flowStartDeltaMicroseconds, K.START_DELTA_US, 3, 4);
role(IE.flowStartSysUpTime, K.START_UPTIME, 3, 5);
role(IE.flowEndMilliseconds, K.END_MS, 4, 0);
role(IE.flowEndMicroseconds, K.END_NTP, 4, 1);
role(IE.flowEndNanoseconds, K.END_NTP, 4, 2);
role(IE.flowEndSeconds, K.END_SEC, 4, 3);
role(IE.flowEndDeltaMicroseconds, K.END_DELTA_US, 4, 4);
role(IE.flowEndSysUpTime, K.END_UPTIME, 4, 5);
role(IE.samplingInterval, K.SAMPLING_INTERVAL);
role(IE.samplerRandomInterval, K.SAMPLING_INTERVAL);
role(IE.samplerId, K.SAMPLER_ID);
role(IE.selectorId, K.SAMPLER_ID);
role(IE.samplingPacketInterval, K.PACKET_INTERVAL);
role(IE.samplingPacketSpace, K.PACKET_SPACE);
role(IE.samplingSize, K.SAMPLING_SIZE);
role(IE.samplingPopulation, K.SAMPLING_POPULATION);
role(IE.samplingProbability, K.SAMPLING_PROBABILITY);
role(IE.systemInitTimeMilliseconds, K.SYSTEM_INIT_MS);

/**
 * Whether `len` bytes are a valid encoding for a field of `kind` (RFC 7011 reduced-size rules).
 * @example
 * lengthFits(K.SRC4, 4); // true
 * lengthFits(K.SRC4, 16); // false: an IPv4 field of 16 bytes is skipped
 */
export function lengthFits(kind: number, len: number): boolean {
  switch (kind) {
    case K.SKIP:
      return true;
    case K.SRC4:
    case K.DST4:
      return len === 4;
    case K.SRC6:
    case K.DST6:
      return len === 16;
    case K.START_NTP:
    case K.END_NTP:
      return len === 8;
    case K.SAMPLING_PROBABILITY:
      return len === 4 || len === 8;
    default:
      return len >= 1 && len <= 8;
  }
}

/**
 * Kind of an IANA element id, SKIP when we do not interpret it.
 * @example
 * kindOf(IE.octetDeltaCount) === K.BYTES; // true
 */
export const kindOf = (type: number): number => (type < ROLE_TABLE_SIZE ? ROLE_KIND[type]! : K.SKIP);
