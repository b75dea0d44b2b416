// Chinese and English text of the dashboard. The language is chosen once (the browser's
// language, zh-* -> 中文), switched in the header, and remembered in localStorage.

const TEXT = {
  zh: {
    brand: "算力 suanli", login_title: "登录算力网络", token: "访问令牌 (API token)",
    login: "登录", logout: "退出", login_hint: "用 `suanli token create` 生成令牌，或查看 `suanli up` 打印的令牌。",
    nav_pool: "资源池", nav_queue: "作业队列", nav_submit: "提交作业", nav_util: "利用率",
    nav_sectors: "行业用量", nav_market: "算力交易", nav_money: "账户与账单", nav_lab: "策略实验室",
    regions: "区域", clusters: "集群", cluster: "集群", provider: "提供方", region: "区域", engine: "引擎",
    state: "状态", gpus: "GPU", cpus: "CPU 核", used: "已用", total: "总量", rating: "实测算力 (PFLOPS)",
    reliability: "可靠性", uptime: "在线率", price: "价格 (元/卡时)", rtt: "往返时延", map_title: "区域与时延示意图",
    pending: "排队中", running: "运行中", recent: "最近结束", all: "全部", name: "名称", status: "状态",
    reason: "原因", submitted: "提交时间", started: "开始", ended: "结束", tenant: "租户", actions: "操作",
    cancel: "取消", cancel_confirm: "确定取消该作业？", more: "下一页", refresh: "刷新", none: "无",
    job: "作业", history: "状态历史", attempts: "尝试", usage: "用量", sch: "标准算力时 (SCH)",
    logs: "日志", stdout: "标准输出", stderr: "标准错误", live: "实时", exit_code: "退出码",
    command: "命令", resources: "资源", memory: "内存", time_limit: "时限", sector: "行业",
    workload_class: "负载类别", priority: "优先级", submit: "提交", submit_title: "提交作业",
    command_hint: "以 sh -c 运行的命令行", gpu_count: "GPU 数量 (如 1 或 1xA100)", regions_hint: "区域 (逗号分隔，可空)",
    util_title: "利用率随时间", queue_title: "队列长度随时间", by_region: "按区域", by_model: "按型号",
    window: "时间窗", hours: "小时", no_samples: "暂无采样：平台每分钟记录一次。",
    sectors_title: "各行业每月算力用量 (SCH)", month: "月份",
    book: "订单簿", asks: "卖单", reserve: "底价", device_hours: "卡时", bids_open: "未成交买单",
    clearing_prices: "出清价格随时间", posted_prices: "挂牌价格", my_reservations: "我的预留",
    product: "产品", start: "开始", end: "结束", amount: "金额", lane: "通道", utilisation: "利用率",
    balance: "余额", cash: "现金", escrow: "托管", credit: "信用额度", available: "可用", payable: "应付",
    statement: "月度账单", opening: "期初", closing: "期末", vouchers: "算力券", share: "补贴比例",
    cap_invoice: "单笔上限", cap_year: "年度上限", used_year: "本年已用", expires: "到期",
    lab_title: "策略实验室", sample: "样例轨迹", upload: "上传轨迹 (CSV)", policies: "策略",
    jobs_n: "作业数", run: "运行", runs: "运行记录", progress: "进度", report: "报告",
    queued: "排队", succeeded: "完成", failed: "失败", earnings: "收益", time: "时间",
    scheduled: "已调度", cancelled: "已取消", lost: "丢失", preempted: "被抢占", ready: "就绪", offline: "离线", draining: "排空中",
    forbidden_page: "您的角色无权查看此页面。", not_found: "未找到", error: "出错了",
    lang: "English", role: "角色", loading: "加载中…", menu: "菜单", saved: "已保存",
    operator: "运营方", consumer: "用户", auditor: "审计", agent: "代理",
  },
  en: {
    brand: "suanli 算力", login_title: "Log in to the compute network", token: "API token",
    login: "Log in", logout: "Log out", login_hint: "Create one with `suanli token create`, or use the token `suanli up` printed.",
    nav_pool: "Pool", nav_queue: "Queue", nav_submit: "Submit", nav_util: "Utilisation",
    nav_sectors: "Sectors", nav_market: "Market", nav_money: "Money", nav_lab: "Policy lab",
    regions: "Regions", clusters: "Clusters", cluster: "Cluster", provider: "Provider", region: "Region", engine: "Engine",
    state: "State", gpus: "GPUs", cpus: "CPU cores", used: "used", total: "total", rating: "Measured (PFLOPS)",
    reliability: "Reliability", uptime: "Uptime", price: "Price (CNY/GPU-h)", rtt: "RTT", map_title: "Regions and round-trip times (schematic)",
    pending: "Pending", running: "Running", recent: "Recently ended", all: "All", name: "Name", status: "Status",
    reason: "Reason", submitted: "Submitted", started: "Started", ended: "Ended", tenant: "Tenant", actions: "Actions",
    cancel: "Cancel", cancel_confirm: "Cancel this job?", more: "Next page", refresh: "Refresh", none: "None",
    job: "Job", history: "Status history", attempts: "Attempts", usage: "Usage", sch: "Standard compute-hours (SCH)",
    logs: "Logs", stdout: "stdout", stderr: "stderr", live: "live", exit_code: "Exit code",
    command: "Command", resources: "Resources", memory: "Memory", time_limit: "Time limit", sector: "Sector",
    workload_class: "Workload class", priority: "Priority", submit: "Submit", submit_title: "Submit a job",
    command_hint: "a command line, run with sh -c", gpu_count: "GPUs (e.g. 1 or 1xA100)", regions_hint: "Regions (comma-separated, optional)",
    util_title: "Utilisation over time", queue_title: "Queue length over time", by_region: "by region", by_model: "by device model",
    window: "Window", hours: "hours", no_samples: "No samples yet: the platform records one a minute.",
    sectors_title: "Compute used per sector per month (SCH)", month: "Month",
    book: "Order book", asks: "Offers", reserve: "Reserve", device_hours: "Device-hours", bids_open: "Open bids",
    clearing_prices: "Clearing prices over time", posted_prices: "Posted prices", my_reservations: "My reservations",
    product: "Product", start: "Start", end: "End", amount: "Amount", lane: "Lane", utilisation: "Utilisation",
    balance: "Balance", cash: "Cash", escrow: "Escrow", credit: "Credit line", available: "Available", payable: "Payable",
    statement: "Monthly statement", opening: "Opening", closing: "Closing", vouchers: "Vouchers (算力券)", share: "Share",
    cap_invoice: "Cap per invoice", cap_year: "Cap per year", used_year: "Used this year", expires: "Expires",
    lab_title: "Policy lab", sample: "Sample trace", upload: "Upload a trace (CSV)", policies: "Policies",
    jobs_n: "Jobs", run: "Run", runs: "Runs", progress: "Progress", report: "Report",
    queued: "Queued", succeeded: "Succeeded", failed: "Failed", earnings: "Earnings", time: "Time",
    scheduled: "Scheduled", cancelled: "Cancelled", lost: "Lost", preempted: "Preempted", ready: "Ready", offline: "Offline", draining: "Draining",
    forbidden_page: "Your role may not see this page.", not_found: "Not found", error: "Something went wrong",
    lang: "中文", role: "Role", loading: "Loading…", menu: "Menu", saved: "Saved",
    operator: "operator", consumer: "consumer", auditor: "auditor", agent: "agent",
  },
};

export const SECTORS = {
  industry: ["工业", "Industry"], agriculture: ["农业", "Agriculture"], transport: ["交通", "Transport"],
  energy: ["能源", "Energy"], finance: ["金融", "Finance"], education: ["教育", "Education"],
  healthcare: ["医疗", "Healthcare"], government: ["政务", "Government"], research: ["科研", "Research"],
  other: ["其他", "Other"],
};

const KEY = "suanli.lang";

export function lang() {
  const saved = localStorage.getItem(KEY);
  if (saved === "zh" || saved === "en") return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function setLang(value) {
  localStorage.setItem(KEY, value);
  document.documentElement.lang = value === "zh" ? "zh-CN" : "en";
}

export function t(key) {
  const table = TEXT[lang()];
  return table[key] ?? TEXT.en[key] ?? key;
}

export function sectorLabel(id) {
  const pair = SECTORS[id];
  if (!pair) return id;
  return lang() === "zh" ? pair[0] : pair[1];
}

export function statusLabel(status) {
  const key = String(status).toLowerCase();
  return TEXT.en[key] ? t(key) : status;
}
