// Static data the simulator draws from: places, networks, applications, names, result codes.
// Networks are plausible (real ASNs and ranges of the named providers) but the hosts are made up.

export const TENANT_ID = "8c3a7f0e-0000-4000-8000-000000000001";
export const DOMAIN = "contoso.com";
export const ONMICROSOFT = "contoso.onmicrosoft.com";

export interface City {
  city: string;
  state: string;
  country: string;
  lat: number;
  lon: number;
  /** UTC offset in minutes in early November (no DST modelling beyond that). */
  tz: number;
  /** Share of the workforce living there; 0 = only a travel or hosting location. */
  weight: number;
}

export const CITIES: readonly City[] = [
  { city: "Seattle", state: "Washington", country: "US", lat: 47.6062, lon: -122.3321, tz: -480, weight: 18 },
  { city: "San Francisco", state: "California", country: "US", lat: 37.7749, lon: -122.4194, tz: -480, weight: 5 },
  { city: "New York", state: "New York", country: "US", lat: 40.7128, lon: -74.006, tz: -300, weight: 8 },
  { city: "Boston", state: "Massachusetts", country: "US", lat: 42.3601, lon: -71.0589, tz: -300, weight: 3 },
  { city: "Chicago", state: "Illinois", country: "US", lat: 41.8781, lon: -87.6298, tz: -360, weight: 4 },
  { city: "Austin", state: "Texas", country: "US", lat: 30.2672, lon: -97.7431, tz: -360, weight: 4 },
  { city: "Toronto", state: "Ontario", country: "CA", lat: 43.6532, lon: -79.3832, tz: -300, weight: 3 },
  { city: "Sao Paulo", state: "Sao Paulo", country: "BR", lat: -23.5505, lon: -46.6333, tz: -180, weight: 2 },
  { city: "London", state: "England", country: "GB", lat: 51.5074, lon: -0.1278, tz: 0, weight: 9 },
  { city: "Manchester", state: "England", country: "GB", lat: 53.4808, lon: -2.2426, tz: 0, weight: 2 },
  { city: "Dublin", state: "Dublin", country: "IE", lat: 53.3498, lon: -6.2603, tz: 0, weight: 2 },
  { city: "Berlin", state: "Berlin", country: "DE", lat: 52.52, lon: 13.405, tz: 60, weight: 5 },
  { city: "Munich", state: "Bayern", country: "DE", lat: 48.1351, lon: 11.582, tz: 60, weight: 4 },
  { city: "Paris", state: "Ile-de-France", country: "FR", lat: 48.8566, lon: 2.3522, tz: 60, weight: 4 },
  { city: "Amsterdam", state: "Noord-Holland", country: "NL", lat: 52.3676, lon: 4.9041, tz: 60, weight: 3 },
  { city: "Madrid", state: "Madrid", country: "ES", lat: 40.4168, lon: -3.7038, tz: 60, weight: 2 },
  { city: "Stockholm", state: "Stockholms lan", country: "SE", lat: 59.3293, lon: 18.0686, tz: 60, weight: 1.5 },
  { city: "Warsaw", state: "Mazowieckie", country: "PL", lat: 52.2297, lon: 21.0122, tz: 60, weight: 2 },
  { city: "Zurich", state: "Zurich", country: "CH", lat: 47.3769, lon: 8.5417, tz: 60, weight: 1 },
  { city: "Bengaluru", state: "Karnataka", country: "IN", lat: 12.9716, lon: 77.5946, tz: 330, weight: 8 },
  { city: "Hyderabad", state: "Telangana", country: "IN", lat: 17.385, lon: 78.4867, tz: 330, weight: 4 },
  { city: "Singapore", state: "Singapore", country: "SG", lat: 1.3521, lon: 103.8198, tz: 480, weight: 2 },
  { city: "Tokyo", state: "Tokyo", country: "JP", lat: 35.6762, lon: 139.6503, tz: 540, weight: 2 },
  { city: "Sydney", state: "New South Wales", country: "AU", lat: -33.8688, lon: 151.2093, tz: 660, weight: 2 },
  // hosting-only locations
  { city: "Frankfurt am Main", state: "Hessen", country: "DE", lat: 50.1109, lon: 8.6821, tz: 60, weight: 0 },
  { city: "Ashburn", state: "Virginia", country: "US", lat: 39.0438, lon: -77.4874, tz: -300, weight: 0 },
  { city: "Helsinki", state: "Uusimaa", country: "FI", lat: 60.1699, lon: 24.9384, tz: 120, weight: 0 },
  { city: "Bucharest", state: "Bucuresti", country: "RO", lat: 44.4268, lon: 26.1025, tz: 120, weight: 0 },
  { city: "Lagos", state: "Lagos", country: "NG", lat: 6.5244, lon: 3.3792, tz: 60, weight: 0 },
];

export interface Network {
  isp: string;
  asn: string;
  /** First two octets of the ranges the provider hands out. */
  prefixes: readonly string[];
}

/** Residential broadband per country (home IPs, hotel and travel IPs). */
export const HOME_ISPS: Readonly<Record<string, readonly Network[]>> = {
  US: [
    { isp: "Comcast Cable Communications", asn: "7922", prefixes: ["73.118", "73.162", "98.203", "24.6"] },
    { isp: "Charter Communications", asn: "20115", prefixes: ["66.108", "97.92", "174.83"] },
    { isp: "Verizon Business", asn: "701", prefixes: ["71.181", "108.31", "100.12"] },
    { isp: "AT&T Services", asn: "7018", prefixes: ["99.47", "107.200", "75.13"] },
  ],
  CA: [
    { isp: "Rogers Communications", asn: "812", prefixes: ["99.228", "174.112"] },
    { isp: "Bell Canada", asn: "577", prefixes: ["142.112", "70.52"] },
  ],
  BR: [
    { isp: "Telefonica Brasil", asn: "26599", prefixes: ["177.33", "189.100"] },
    { isp: "Claro NXT", asn: "28573", prefixes: ["179.218", "187.101"] },
  ],
  GB: [
    { isp: "British Telecommunications", asn: "2856", prefixes: ["86.160", "81.129"] },
    { isp: "Virgin Media", asn: "5089", prefixes: ["82.4", "86.28"] },
    { isp: "Sky UK", asn: "5607", prefixes: ["90.196", "2.120"] },
  ],
  IE: [
    { isp: "Eircom", asn: "5466", prefixes: ["86.41", "79.97"] },
    { isp: "Virgin Media Ireland", asn: "6830", prefixes: ["89.100", "109.255"] },
  ],
  DE: [
    { isp: "Deutsche Telekom", asn: "3320", prefixes: ["79.192", "87.150", "91.49"] },
    { isp: "Vodafone GmbH", asn: "3209", prefixes: ["88.65", "178.24"] },
    { isp: "Telefonica Germany", asn: "6805", prefixes: ["77.11", "95.91"] },
  ],
  FR: [
    { isp: "Orange", asn: "3215", prefixes: ["90.3", "86.246"] },
    { isp: "Free SAS", asn: "12322", prefixes: ["82.64", "88.160"] },
    { isp: "SFR", asn: "15557", prefixes: ["109.9", "93.22"] },
  ],
  NL: [
    { isp: "KPN", asn: "1136", prefixes: ["84.84", "145.53"] },
    { isp: "Vodafone Libertel (Ziggo)", asn: "33915", prefixes: ["84.105", "217.121"] },
  ],
  ES: [
    { isp: "Telefonica de Espana", asn: "3352", prefixes: ["83.33", "88.12"] },
    { isp: "Orange Espagne", asn: "12479", prefixes: ["90.94", "81.37"] },
  ],
  SE: [
    { isp: "Telia Company", asn: "3301", prefixes: ["81.226", "90.229"] },
    { isp: "Tele2 Sverige", asn: "39651", prefixes: ["94.254", "83.255"] },
  ],
  PL: [
    { isp: "Orange Polska", asn: "5617", prefixes: ["83.31", "89.64"] },
    { isp: "Netia", asn: "12741", prefixes: ["77.252", "87.205"] },
  ],
  CH: [
    { isp: "Swisscom", asn: "3303", prefixes: ["85.1", "178.192"] },
    { isp: "Sunrise", asn: "6730", prefixes: ["84.72", "212.203"] },
  ],
  IN: [
    { isp: "Bharti Airtel", asn: "24560", prefixes: ["122.171", "106.51"] },
    { isp: "Reliance Jio Infocomm", asn: "55836", prefixes: ["49.36", "157.47"] },
    { isp: "Atria Convergence Technologies", asn: "24309", prefixes: ["49.207", "106.200"] },
  ],
  SG: [
    { isp: "Singapore Telecommunications", asn: "9506", prefixes: ["116.14", "118.200"] },
    { isp: "StarHub", asn: "4657", prefixes: ["101.100", "203.117"] },
  ],
  JP: [
    { isp: "NTT Communications", asn: "4713", prefixes: ["153.232", "114.150"] },
    { isp: "KDDI", asn: "2516", prefixes: ["106.172", "111.98"] },
  ],
  AU: [
    { isp: "Telstra", asn: "1221", prefixes: ["101.191", "120.148"] },
    { isp: "TPG Telecom", asn: "7545", prefixes: ["110.174", "203.219"] },
  ],
};

/** Mobile carriers per country (a phone's usual network). */
export const MOBILE_ISPS: Readonly<Record<string, readonly Network[]>> = {
  US: [
    { isp: "T-Mobile USA", asn: "21928", prefixes: ["172.58", "172.56"] },
    { isp: "Verizon Wireless", asn: "22394", prefixes: ["174.205", "174.215"] },
  ],
  CA: [{ isp: "Telus Communications", asn: "852", prefixes: ["154.20"] }],
  BR: [{ isp: "TIM S/A", asn: "26615", prefixes: ["177.79"] }],
  GB: [{ isp: "EE Limited", asn: "12576", prefixes: ["31.94", "92.40"] }],
  IE: [{ isp: "Three Ireland", asn: "13280", prefixes: ["37.228"] }],
  DE: [{ isp: "Telefonica Germany", asn: "6805", prefixes: ["176.0"] }],
  FR: [{ isp: "Bouygues Telecom", asn: "5410", prefixes: ["37.164"] }],
  NL: [{ isp: "Odido Netherlands", asn: "50266", prefixes: ["62.140"] }],
  ES: [{ isp: "Vodafone Spain", asn: "12430", prefixes: ["37.11"] }],
  SE: [{ isp: "Tele2 Mobile", asn: "1257", prefixes: ["90.224"] }],
  PL: [{ isp: "P4 (Play)", asn: "39603", prefixes: ["37.47"] }],
  CH: [{ isp: "Salt Mobile", asn: "15796", prefixes: ["46.14"] }],
  IN: [{ isp: "Vodafone Idea", asn: "55410", prefixes: ["42.106"] }],
  SG: [{ isp: "M1 Limited", asn: "17547", prefixes: ["116.88"] }],
  JP: [{ isp: "SoftBank Corp.", asn: "17676", prefixes: ["126.36"] }],
  AU: [{ isp: "Optus", asn: "4804", prefixes: ["49.195"] }],
};

/**
 * Corporate egress (a cloud proxy) per office country: a few shared IPs per office.
 * Users in countries without an office only have home (and mobile) networks.
 */
export const CORP_EGRESS: Readonly<Record<string, { isp: string; asn: string; ips: readonly string[] }>> = {
  US: { isp: "Zscaler, Inc.", asn: "53813", ips: ["165.225.50.17", "165.225.50.40", "165.225.242.63", "165.225.38.11"] },
  CA: { isp: "Zscaler, Inc.", asn: "53813", ips: ["165.225.208.29", "165.225.208.52"] },
  GB: { isp: "Zscaler Switzerland GmbH", asn: "62044", ips: ["147.161.166.17", "147.161.166.40", "147.161.167.63"] },
  DE: { isp: "Zscaler Switzerland GmbH", asn: "62044", ips: ["165.225.72.17", "165.225.72.40", "165.225.26.63"] },
  FR: { isp: "Zscaler Switzerland GmbH", asn: "62044", ips: ["165.225.76.17", "165.225.76.40"] },
  NL: { isp: "Zscaler Switzerland GmbH", asn: "62044", ips: ["147.161.172.17", "147.161.172.40"] },
  IN: { isp: "Zscaler Switzerland GmbH", asn: "62044", ips: ["165.225.104.17", "165.225.104.40", "165.225.122.63"] },
  SG: { isp: "Zscaler Switzerland GmbH", asn: "62044", ips: ["165.225.112.17", "165.225.112.40"] },
  JP: { isp: "Zscaler Switzerland GmbH", asn: "62044", ips: ["165.225.96.17", "165.225.96.40"] },
  AU: { isp: "Zscaler Switzerland GmbH", asn: "62044", ips: ["165.225.114.17", "165.225.114.40"] },
};

export interface Hosting extends Network {
  /** Index into CITIES; -1 = geolocates in whatever country the caller asks for. */
  city: number;
}

const cityIndex = (name: string): number => {
  const i = CITIES.findIndex((c) => c.city === name);
  if (i < 0) throw new Error(`unknown city ${name}`);
  return i;
};

/** Hosting and VPN providers: never used by the workforce, only by attackers and sprayers. */
export const HOSTING: readonly Hosting[] = [
  { isp: "DigitalOcean, LLC", asn: "14061", prefixes: ["188.166", "178.62"], city: cityIndex("Amsterdam") },
  { isp: "DigitalOcean, LLC", asn: "14061", prefixes: ["164.92"], city: cityIndex("Frankfurt am Main") },
  { isp: "DigitalOcean, LLC", asn: "14061", prefixes: ["128.199"], city: cityIndex("Singapore") },
  { isp: "The Constant Company", asn: "20473", prefixes: ["45.77", "149.28"], city: cityIndex("Ashburn") },
  { isp: "The Constant Company", asn: "20473", prefixes: ["45.76"], city: cityIndex("Tokyo") },
  { isp: "OVH SAS", asn: "16276", prefixes: ["51.75", "54.36"], city: cityIndex("Paris") },
  { isp: "Hetzner Online GmbH", asn: "24940", prefixes: ["65.21", "95.216"], city: cityIndex("Helsinki") },
  { isp: "Amazon.com, Inc.", asn: "16509", prefixes: ["3.84", "54.152"], city: cityIndex("Ashburn") },
  { isp: "Voxility LLP", asn: "3223", prefixes: ["93.114"], city: cityIndex("Bucharest") },
  { isp: "MainOne Cable Company", asn: "37282", prefixes: ["102.88"], city: cityIndex("Lagos") },
];

/** Residential-proxy style exit that geolocates anywhere; used for the Intune attacker. */
/** A cloud VPN / security service edge: its egress is in the user's own city, a new IP at each reconnect. */
export const CORPORATE_VPN: Network = { isp: "Zscaler, Inc.", asn: "53813", prefixes: ["136.226", "165.225"] };

export const PROXY: Hosting = { isp: "M247 Europe SRL", asn: "9009", prefixes: ["146.70"], city: -1 };

// ---------------------------------------------------------------------------------------
// Applications and resources (real first-party app ids)

export interface App {
  name: string;
  id: string;
  browser: boolean;
}

export const APPS = {
  office: { name: "Microsoft Office", id: "d3590ed6-52b3-4102-aeff-aad2292ab01c", browser: false },
  teams: { name: "Microsoft Teams", id: "1fec8e78-bce4-4aaf-ab1b-5451cc387264", browser: false },
  outlookMobile: { name: "Outlook Mobile", id: "27922004-5251-4030-b22d-91ecd9a37ea4", browser: false },
  owa: { name: "One Outlook Web", id: "9199bf20-a13f-4107-85dc-02114787ef48", browser: true },
  oneDrive: { name: "OneDrive SyncEngine", id: "ab9b8c07-8f02-4f72-87fa-80105867a763", browser: false },
  broker: { name: "Microsoft Authentication Broker", id: "29d9ed98-a469-4536-ade2-f981bc1d605e", browser: false },
  companyPortal: { name: "Microsoft Intune Company Portal", id: "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223", browser: false },
  azureCli: { name: "Microsoft Azure CLI", id: "04b07795-8ddb-461a-bbee-02f9e1bf7b46", browser: false },
  azurePortal: { name: "Azure Portal", id: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", browser: true },
  officeHome: { name: "OfficeHome", id: "4765445b-32c6-49b0-83e6-1d93765276ca", browser: true },
  edge: { name: "Microsoft Edge", id: "ecd6b820-32c2-49b6-98a6-444530e5a77a", browser: false },
  windowsSignIn: { name: "Windows Sign In", id: "38aa3b87-a06d-4817-b275-7a316988d93b", browser: false },
  aadPowerShell: { name: "Azure Active Directory PowerShell", id: "1b730954-1685-4b74-9bfd-dac224a7b894", browser: false },
} as const satisfies Record<string, App>;

export interface Resource {
  name: string;
  id: string;
}

export const RESOURCES = {
  exchange: { name: "Office 365 Exchange Online", id: "00000002-0000-0ff1-ce00-000000000000" },
  graph: { name: "Microsoft Graph", id: "00000003-0000-0000-c000-000000000000" },
  teams: { name: "Microsoft Teams Services", id: "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe" },
  sharePoint: { name: "Office 365 SharePoint Online", id: "00000003-0000-0ff1-ce00-000000000000" },
  intune: { name: "Microsoft Intune", id: "0000000a-0000-0000-c000-000000000000" },
  azureManagement: { name: "Windows Azure Service Management API", id: "797f4846-ba00-4fd7-ba43-dac1f8f63013" },
  aad: { name: "Windows Azure Active Directory", id: "00000002-0000-0000-c000-000000000000" },
  officeHome: { name: "OfficeHome", id: "4765445b-32c6-49b0-83e6-1d93765276ca" },
} as const satisfies Record<string, Resource>;

/** Resources the Intune rule watches (`has_any`); benign access to them must be from known networks or with MFA. */
export const INTUNE_RULE_RESOURCES: readonly string[] = [
  "Microsoft Intune",
  "Microsoft Intune API",
  "Device Management",
  "Windows 365",
  "Microsoft Graph",
];

export interface Access {
  app: App;
  resource: Resource;
  weight: number;
  /** Only for users who manage Azure. */
  engineer?: boolean;
}

/** Token refreshes from a laptop. */
export const DESKTOP_REFRESHES: readonly Access[] = [
  { app: APPS.office, resource: RESOURCES.exchange, weight: 18 },
  { app: APPS.teams, resource: RESOURCES.teams, weight: 12 },
  { app: APPS.teams, resource: RESOURCES.graph, weight: 9 },
  { app: APPS.oneDrive, resource: RESOURCES.sharePoint, weight: 10 },
  { app: APPS.office, resource: RESOURCES.graph, weight: 6 },
  { app: APPS.owa, resource: RESOURCES.exchange, weight: 4 },
  { app: APPS.edge, resource: RESOURCES.graph, weight: 3 },
  { app: APPS.broker, resource: RESOURCES.aad, weight: 5 },
  { app: APPS.broker, resource: RESOURCES.intune, weight: 3 },
  { app: APPS.azureCli, resource: RESOURCES.azureManagement, weight: 6, engineer: true },
];

/** Token refreshes from a phone. */
export const MOBILE_REFRESHES: readonly Access[] = [
  { app: APPS.outlookMobile, resource: RESOURCES.exchange, weight: 20 },
  { app: APPS.teams, resource: RESOURCES.teams, weight: 12 },
  { app: APPS.teams, resource: RESOURCES.graph, weight: 6 },
  { app: APPS.teams, resource: RESOURCES.sharePoint, weight: 3 },
  { app: APPS.companyPortal, resource: RESOURCES.intune, weight: 3 },
  { app: APPS.broker, resource: RESOURCES.graph, weight: 3 },
];

/** Always-on devices overnight: mail sync and device check-ins. */
export const OVERNIGHT_REFRESHES: readonly Access[] = [
  { app: APPS.office, resource: RESOURCES.exchange, weight: 8 },
  { app: APPS.oneDrive, resource: RESOURCES.sharePoint, weight: 5 },
  { app: APPS.teams, resource: RESOURCES.teams, weight: 4 },
  { app: APPS.broker, resource: RESOURCES.intune, weight: 3 },
];

/** Interactive sign-ins from a laptop. */
export const DESKTOP_SIGNINS: readonly Access[] = [
  { app: APPS.officeHome, resource: RESOURCES.officeHome, weight: 10 },
  { app: APPS.owa, resource: RESOURCES.exchange, weight: 8 },
  { app: APPS.teams, resource: RESOURCES.teams, weight: 8 },
  { app: APPS.office, resource: RESOURCES.exchange, weight: 6 },
  { app: APPS.windowsSignIn, resource: RESOURCES.aad, weight: 6 },
  { app: APPS.azurePortal, resource: RESOURCES.azureManagement, weight: 8, engineer: true },
];

/** Interactive sign-ins from a phone. */
export const MOBILE_SIGNINS: readonly Access[] = [
  { app: APPS.outlookMobile, resource: RESOURCES.exchange, weight: 6 },
  { app: APPS.teams, resource: RESOURCES.teams, weight: 5 },
  { app: APPS.companyPortal, resource: RESOURCES.intune, weight: 1 },
];

// ---------------------------------------------------------------------------------------
// Result codes

export const RESULT_TEXT: Readonly<Record<string, string>> = {
  "0": "",
  "16000": "Either multiple user identities are available for the current request or selected account is not supported for the scenario.",
  "50053": "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.",
  "50055": "The password is expired.",
  "50058": "Session information is not sufficient for single-sign-on.",
  "50074": "Strong Authentication is required.",
  "50076": "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
  "50126": "Error validating credentials due to invalid username or password.",
  "50133": "Session is invalid due to expiration or recent password change.",
  "50140": "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.",
  "50173": "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
  "53003": "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
  "70044": "The session has expired or is invalid due to sign-in frequency checks by conditional access.",
  "700082": "The refresh token has expired due to inactivity.",
};

export const INTERACTIVE_FAILURES: readonly (readonly [code: string, weight: number])[] = [
  ["50126", 40], ["50140", 20], ["50074", 15], ["50076", 10], ["16000", 5], ["53003", 5], ["50053", 3], ["50055", 2],
];

export const NONINTERACTIVE_FAILURES: readonly (readonly [code: string, weight: number])[] = [
  ["70044", 20], ["50173", 15], ["700082", 15], ["50133", 10], ["16000", 10], ["50076", 10], ["50058", 10], ["53003", 5],
];

export const MFA_METHODS: readonly (readonly [method: string, weight: number])[] = [
  ["Mobile app notification", 70], ["OATH verification code", 20], ["Text message", 10],
];

// ---------------------------------------------------------------------------------------
// People

export const FIRST_NAMES: readonly string[] = [
  "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
  "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Daniel", "Karen",
  "Matthew", "Lisa", "Anthony", "Nancy", "Mark", "Sandra", "Steven", "Ashley", "Andrew", "Emily",
  "Paul", "Michelle", "Joshua", "Amanda", "Kevin", "Melissa", "Brian", "Stephanie", "Oliver", "Olivia",
  "Harry", "Amelia", "George", "Isla", "Noah", "Ava", "Lukas", "Lena", "Felix", "Hannah",
  "Jonas", "Mia", "Louis", "Chloe", "Hugo", "Camille", "Lucas", "Sofia", "Mateo", "Lucia",
  "Arjun", "Priya", "Rahul", "Ananya", "Vikram", "Divya", "Aarav", "Sneha", "Wei", "Mei",
  "Hiroshi", "Yuki", "Kenji", "Sakura", "Liam", "Emma", "Jakub", "Zofia", "Erik", "Astrid",
  "Pedro", "Ana", "Tariq", "Fatima", "Omar", "Leila", "Samuel", "Grace", "Ethan", "Chidi",
];

export const LAST_NAMES: readonly string[] = [
  "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
  "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee",
  "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
  "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts",
  "Evans", "Turner", "Collins", "Murphy", "Kelly", "Byrne", "Mueller", "Schmidt", "Schneider", "Fischer",
  "Weber", "Wagner", "Becker", "Dubois", "Lefevre", "Moreau", "Bernard", "Janssen", "De Vries", "Bakker",
  "Fernandez", "Gonzalez", "Sanchez", "Kowalski", "Nowak", "Wojcik", "Andersson", "Johansson", "Lindqvist", "Keller",
  "Sharma", "Patel", "Reddy", "Iyer", "Nair", "Gupta", "Tanaka", "Suzuki", "Sato", "Watanabe",
  "Tan", "Lim", "Chen", "Wang", "Nguyen", "Okafor", "Silva", "Santos", "Costa", "O'Brien",
];

export const GUEST_DOMAINS: readonly string[] = [
  "fabrikam.com", "northwindtraders.com", "adatum.com", "tailspintoys.com", "wingtiptoys.com",
  "woodgrovebank.com", "litwareinc.com", "proseware.com", "fourthcoffee.com", "alpineskihouse.com",
];

export const DEPARTMENTS: readonly string[] = [
  "Finance", "Sales", "Marketing", "Engineering", "HR", "Legal", "Operations", "Support", "Product", "IT",
];
