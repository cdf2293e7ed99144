// Wire types of the Tailscale control protocol. Field names mirror tailcfg/tailcfg.go
// exactly because the client decodes them with Go's encoding/json (case-insensitive,
// but we keep Go's spelling so captures and diffs read the same).

/** Capability version of the oldest client we accept (tailscale v1.80). */
export const MIN_CAPABILITY_VERSION = 113;

export type NodeID = number;
export type UserID = number;

/** "nodekey:<64 hex>" */
export type NodePublicString = string;
/** "mkey:<64 hex>" */
export type MachinePublicString = string;
/** "discokey:<64 hex>" */
export type DiscoPublicString = string;

export interface Service {
  Proto: string;
  Port: number;
  Description?: string;
}

export interface NetInfo {
  MappingVariesByDestIP?: boolean | null;
  HairPinning?: boolean | null;
  WorkingIPv6?: boolean | null;
  OSHasIPv6?: boolean | null;
  WorkingUDP?: boolean | null;
  WorkingICMPv4?: boolean | null;
  HavePortMap?: boolean;
  UPnP?: boolean | null;
  PMP?: boolean | null;
  PCP?: boolean | null;
  PreferredDERP?: number;
  LinkType?: string;
  DERPLatency?: Record<string, number>;
  FirewallMode?: string;
}

export interface Hostinfo {
  IPNVersion?: string;
  FrontendLogID?: string;
  BackendLogID?: string;
  OS?: string;
  OSVersion?: string;
  Container?: boolean;
  Env?: string;
  Distro?: string;
  DistroVersion?: string;
  DistroCodeName?: string;
  App?: string;
  Desktop?: boolean;
  Package?: string;
  DeviceModel?: string;
  PushDeviceToken?: string;
  Hostname?: string;
  ShieldsUp?: boolean;
  ShareeNode?: boolean;
  NoLogsNoSupport?: boolean;
  WireIngress?: boolean;
  IngressEnabled?: boolean;
  AllowsUpdate?: boolean;
  Machine?: string;
  GoArch?: string;
  GoArchVar?: string;
  GoVersion?: string;
  RoutableIPs?: string[];
  RequestTags?: string[];
  WoLMACs?: string[];
  Services?: Service[];
  NetInfo?: NetInfo;
  SSH_HostKeys?: string[];
  Cloud?: string;
  Userspace?: boolean | null;
  UserspaceRouter?: boolean | null;
  AppConnector?: boolean | null;
  ServicesHash?: string;
  Location?: unknown;
  [extra: string]: unknown;
}

export interface PortRange {
  First: number;
  Last: number;
}

export interface NetPortRange {
  IP: string;
  /** Deprecated in tailcfg; always null from us. */
  Bits?: number | null;
  Ports: PortRange;
}

export interface CapGrant {
  Dsts: string[];
  Caps?: string[];
  CapMap?: Record<string, unknown[] | null>;
}

export interface FilterRule {
  SrcIPs: string[];
  SrcBits?: number[] | null;
  DstPorts?: NetPortRange[];
  IPProto?: number[];
  CapGrant?: CapGrant[];
}

export interface SSHPrincipal {
  node?: string;
  nodeIP?: string;
  userLogin?: string;
  any?: boolean;
}

export interface SSHAction {
  message?: string;
  reject?: boolean;
  accept?: boolean;
  sessionDuration?: number;
  allowAgentForwarding?: boolean;
  holdAndDelegate?: string;
  allowLocalPortForwarding?: boolean;
  allowRemotePortForwarding?: boolean;
  recorders?: string[];
  onRecordingFailure?: unknown;
}

export interface SSHRule {
  ruleExpires?: string | null;
  principals: SSHPrincipal[];
  sshUsers: Record<string, string>;
  action: SSHAction;
  acceptEnv?: string[];
}

export interface SSHPolicy {
  rules: SSHRule[];
}

export interface Node {
  ID: NodeID;
  StableID: string;
  /** FQDN with trailing dot, e.g. "laptop.example.ts.net." */
  Name: string;
  User: UserID;
  Sharer?: UserID;
  Key: NodePublicString;
  /** RFC 3339; Go's zero time "0001-01-01T00:00:00Z" when the key never expires. */
  KeyExpiry: string;
  KeySignature?: string;
  Machine: MachinePublicString;
  DiscoKey: DiscoPublicString;
  Addresses: string[];
  AllowedIPs: string[];
  Endpoints?: string[];
  /** Legacy "127.3.3.40:<region>" spelling, still read by older clients. */
  DERP?: string;
  HomeDERP?: number;
  Hostinfo: Hostinfo;
  Created: string;
  Cap?: number;
  Tags?: string[];
  PrimaryRoutes?: string[];
  LastSeen?: string | null;
  Online?: boolean | null;
  MachineAuthorized?: boolean;
  Capabilities?: string[];
  CapMap?: Record<string, unknown[] | null>;
  UnsignedPeerAPIOnly?: boolean;
  ComputedName?: string;
  ComputedNameWithHost?: string;
  DataPlaneAuditLogID?: string;
  Expired?: boolean;
  SelfNodeV4MasqAddrForThisPeer?: string | null;
  SelfNodeV6MasqAddrForThisPeer?: string | null;
  IsWireGuardOnly?: boolean;
  IsJailed?: boolean;
  ExitNodeDNSResolvers?: DNSResolver[];
}

/** Partial update of one peer: only the non-null fields changed. */
export interface PeerChange {
  NodeID: NodeID;
  DERPRegion?: number;
  Cap?: number;
  CapMap?: Record<string, unknown[] | null>;
  Endpoints?: string[];
  Key?: NodePublicString;
  KeySignature?: string;
  DiscoKey?: DiscoPublicString;
  Online?: boolean;
  LastSeen?: string;
  KeyExpiry?: string;
}

export interface UserProfile {
  ID: UserID;
  LoginName: string;
  DisplayName: string;
  ProfilePicURL?: string;
  Roles?: string[];
}

export interface DERPNode {
  Name: string;
  RegionID: number;
  HostName: string;
  CertName?: string;
  IPv4?: string;
  IPv6?: string;
  STUNPort?: number;
  STUNOnly?: boolean;
  DERPPort?: number;
  InsecureForTests?: boolean;
  STUNTestIP?: string;
  CanPort80?: boolean;
}

export interface DERPRegion {
  RegionID: number;
  RegionCode: string;
  RegionName: string;
  Latitude?: number;
  Longitude?: number;
  Avoid?: boolean;
  NoMeasureNoHome?: boolean;
  Nodes: DERPNode[];
}

export interface DERPMap {
  HomeParams?: { RegionScore?: Record<string, number> | null };
  Regions: Record<string, DERPRegion>;
  // tailcfg tags this field in lower camel case on the wire.
  omitDefaultRegions?: boolean;
}

export interface DNSResolver {
  Addr: string;
  BootstrapResolution?: string[];
}

export interface DNSRecord {
  Name: string;
  Type?: string;
  Value: string;
}

export interface DNSConfig {
  Resolvers?: DNSResolver[];
  Routes?: Record<string, DNSResolver[] | null>;
  FallbackResolvers?: DNSResolver[];
  Domains?: string[];
  Proxied?: boolean;
  Nameservers?: string[];
  CertDomains?: string[];
  ExtraRecords?: DNSRecord[];
  ExitNodeFilteredSet?: string[];
  TempCorpIssue13969?: string;
}

export interface Debug {
  DisableLogTail?: boolean;
  SleepSeconds?: number;
  Exit?: number | null;
}

export interface PingRequest {
  URL: string;
  URLIsNoise?: boolean;
  Log?: boolean;
  Types?: string;
  IP?: string;
  Payload?: string;
}

export interface MapRequest {
  Version: number;
  Compress?: string;
  KeepAlive?: boolean;
  NodeKey: NodePublicString;
  DiscoKey?: DiscoPublicString;
  Stream?: boolean;
  Hostinfo?: Hostinfo | null;
  MapSessionHandle?: string;
  MapSessionSeq?: number;
  Endpoints?: string[] | null;
  EndpointTypes?: number[] | null;
  TKAHead?: string;
  ReadOnly?: boolean;
  OmitPeers?: boolean;
  DebugFlags?: string[] | null;
  ConnectionHandleForTest?: string;
}

export interface MapResponse {
  MapSessionHandle?: string;
  Seq?: number;
  KeepAlive?: boolean;
  PingRequest?: PingRequest;
  PopBrowserURL?: string;
  Node?: Node;
  DERPMap?: DERPMap;
  Peers?: Node[];
  PeersChanged?: Node[];
  PeersRemoved?: NodeID[];
  PeersChangedPatch?: PeerChange[];
  PeerSeenChange?: Record<string, boolean>;
  OnlineChange?: Record<string, boolean>;
  DNSConfig?: DNSConfig;
  Domain?: string;
  CollectServices?: boolean | string;
  PacketFilter?: FilterRule[];
  PacketFilters?: Record<string, FilterRule[] | null>;
  UserProfiles?: UserProfile[];
  Health?: string[];
  SSHPolicy?: SSHPolicy;
  ControlTime?: string;
  TKAInfo?: unknown;
  DomainDataPlaneAuditLogID?: string;
  Debug?: Debug;
  ControlDialPlan?: unknown;
  ClientVersion?: unknown;
  DefaultAutoUpdate?: boolean | null;
}

export interface RegisterResponseAuth {
  Provider?: string;
  LoginName?: string;
  Oauth2Token?: unknown;
  AuthKey?: string;
}

export interface RegisterRequest {
  Version: number;
  NodeKey: NodePublicString;
  OldNodeKey?: NodePublicString;
  NLKey?: string;
  Auth?: RegisterResponseAuth | null;
  /** Zero time or absent: default expiry. In the past: logout. */
  Expiry?: string;
  Followup?: string;
  Hostinfo?: Hostinfo | null;
  Ephemeral?: boolean;
  NodeKeySignature?: string;
  SignatureType?: number;
  Timestamp?: string | null;
  DeviceCert?: string;
  Signature?: string;
  Tailnet?: string;
}

export interface Login {
  ID: number;
  Provider?: string;
  LoginName: string;
  DisplayName: string;
  ProfilePicURL?: string;
}

export interface User {
  ID: UserID;
  DisplayName: string;
  ProfilePicURL?: string;
  Created: string;
}

export interface RegisterResponse {
  User: User;
  Login: Login;
  NodeKeyExpired: boolean;
  MachineAuthorized: boolean;
  AuthURL: string;
  NodeKeySignature?: string;
  Error: string;
}

/** Sent by the server as the first bytes of the Noise channel (before HTTP/2). */
export interface EarlyNoise {
  NodeKeyChallenge: string;
}

/** Go's zero time.Time, as encoding/json writes it. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';
