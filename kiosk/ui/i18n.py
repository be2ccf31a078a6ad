"""Every word the app shows, Chinese first, English second (one catalogue, like gettext's
.po pair but checked by a test that every key has both languages).

Decision reasons come from ``kiosk.core.messages`` so the screen and ``kiosk check`` say the
same thing. ``tr(key, lang, **fields)`` formats with ``str.format`` fields.
"""

from __future__ import annotations

from kiosk.core.messages import Reason, message
from kiosk.core.model import COURIER_NAME, PassKind

LANGUAGES = ("zh", "en")

CATALOGUE: dict[str, tuple[str, str]] = {
    # sign-in
    "app_title": ("防疫卡口登记", "Checkpoint Kiosk"),
    "choose_volunteer": ("请选择您的名字", "Tap your name"),
    "enter_pin": ("输入密码", "Enter your PIN"),
    "pin_for": ("{name} 请输入密码", "{name}: enter your PIN"),
    "admin_pin": ("管理员密码", "Admin PIN"),
    "ok": ("确定", "OK"),
    "back": ("返回", "Back"),
    "clear": ("清除", "Clear"),
    "language": ("English", "中文"),
    "admin": ("管理", "Admin"),
    "pin_wrong": ("密码错误，还可试 {left} 次", "Wrong PIN: {left} tries left"),
    "pin_locked": ("已锁定至 {until}，其他志愿者仍可登录",
                   "Locked until {until}: another volunteer can still sign in"),
    "pin_short": ("密码为 4 到 8 位数字", "A PIN is 4 to 8 digits"),
    "not_admin": ("不是管理员密码", "Not an admin PIN"),
    "no_volunteers": ("还没有志愿者：请用 kiosk volunteers add 添加",
                      "No volunteers yet: add one with kiosk volunteers add"),
    "checking": ("正在核对…", "Checking..."),
    # gate
    "dir_in": ("进", "IN"),
    "dir_out": ("出", "OUT"),
    "show_pass": ("请出示通行证", "Show your pass"),
    "show_pass_hint": ("扫码、扫描枪，或在右侧搜索", "Camera, scanner, or search on the right"),
    "search": ("搜索", "Search"),
    "search_typed": ("搜索：{query}", "Search: {query}"),
    "search_hint": ("通行证号 / 楼-单元-房 / 姓名", "Pass no. / bldg-unit-room / name"),
    "no_match": ("没有找到：{query}", "Nothing matches: {query}"),
    "undo": ("撤销上一人", "Undo last"),
    "undone": ("已撤销：{name}", "Undone: {name}"),
    "undo_too_late": ("超过 60 秒，不能撤销：请告诉组长",
                      "Over 60 s: cannot undo, tell the team leader"),
    "too_many": ("只列出前 {n} 人：请输入完整的楼-单元-房或更多字母",
                 "Only the first {n} shown: type the whole room or more letters"),
    "hits_more": ("共 {n} 人，上下滑动查看", "{n} people: scroll for more"),
    "looking_up": ("正在查询…", "Looking up..."),
    "measuring": ("请测体温", "Measure the temperature"),
    "papers_measure_first": ("{reason}：先测体温，再劝返",
                             "{reason}: take the temperature, then turn away"),
    "measuring_device": ("对准额头，自动读取", "Aim at the forehead: read automatically"),
    "type_temp": ("请输入体温", "Type the temperature"),
    "manual": ("手动输入体温", "Type temperature"),
    "temp_format": ("请输入如 36.5 的体温", "Type a temperature like 36.5"),
    "reading_shown": ("读数 {value}", "Reading {value}"),
    "reading_bad": ("未测到有效体温（{state}），请重测",
                    "No valid reading ({state}): measure again"),
    "remeasure_in": ("体温偏高，{seconds} 秒后复测",
                     "Temperature high: measure again in {seconds} s"),
    "remeasure_wait": ("体温偏高，稍候复测", "High: measure again in"),
    "state_lo": ("读数过低", "too low"),
    "state_hi": ("读数过高", "too high"),
    "state_no_target": ("没有对准", "no forehead in view"),
    "state_sensor_error": ("体温计故障", "sensor fault"),
    "state_valid": ("有效", "valid"),
    "first_reading": ("第一次 {value} °C", "First reading {value} °C"),
    "remeasure_now": ("请复测体温", "Measure again now"),
    "recording": ("正在记录…", "Recording..."),
    "record_failed": ("记录失败：{error}。数据未丢失，请再试", "Could not record: {error}. "
                      "Nothing was lost; try again"),
    "event_refused": ("不能记录：{zh}", "Not recorded: {en}"),
    "busy": ("请先处理完当前人员", "Finish the current person first"),
    "disk_full": ("磁盘已满：请使用纸质登记", "Disk full: use the paper register"),
    "store_replaced": ("数据库文件被删除或替换：请使用纸质登记并重启",
                       "Database file removed or replaced: use the paper register and restart"),
    "recording_stopped": ("无法记录：请使用纸质登记", "Cannot record: use the paper register"),
    "backup_failed": ("今日备份失败（磁盘已满？）", "Today's backup failed (disk full?)"),
    "background_failed": ("后台任务出错（已记入日志）", "A background task failed (logged)"),
    "side_trip_busy": ("请先测完这一位", "Finish this person first"),
    "cancel": ("取消", "Cancel"),
    "visitor": ("访客登记", "Visitor"),
    "who_is_out": ("外出未归", "Who is out"),
    "sign_out": ("交班", "Sign out"),
    "forged_scan": ("二维码无效（伪造或被改动）", "QR not genuine (forged or altered)"),
    "scan_garbage": ("无法识别的扫描内容", "Scan not recognised"),
    "one_way": ("本门只允许 {mode}", "This gate is one-way: {mode} only"),
    # status bar
    "thermo_connected": ("体温计正常", "Thermometer OK"),
    "thermo_starting": ("体温计连接中", "Thermometer starting"),
    "thermo_no_data": ("体温计无数据", "Thermometer silent"),
    "thermo_wrong_protocol": ("体温计协议不对", "Wrong thermometer type"),
    "thermo_unplugged": ("体温计未连接", "Thermometer unplugged"),
    "thermo_stopped": ("体温计未启用", "No thermometer"),
    "thermo_down_manual": ("体温计不可用：请手动输入体温",
                           "Thermometer down: type the temperature"),
    "cam_connected": ("摄像头正常", "Camera OK"),
    "cam_starting": ("摄像头连接中", "Camera starting"),
    "cam_lost": ("摄像头断开", "Camera lost"),
    "cam_off": ("未设摄像头", "No camera"),
    "sync_off": ("记录存本机", "Saved on this kiosk"),
    "sync_waiting": ("{count} 条待上传，已存本机", "{count} to send, saved here"),
    "sync_done": ("已全部上传", "All sent"),
    # through the compound's hub (docs/SYNC.md): the district reachable through it or not,
    # and since when this gate has not heard of the other gates
    "sync_hub": ("经枢纽已上传", "Sent via hub"),
    "sync_hub_alone": ("枢纽未连区里", "Hub: no district"),
    # the hub has never reached the district: nothing has left the compound yet
    "sync_hub_never": ("枢纽从未连上区里", "Hub never reached district"),
    "sync_stale": ("他门数据截至 {time}", "Other gates as of {time}"),
    "clock_untrusted": ("时间：本机时钟", "Local clock"),
    "clock_fast": ("时钟快 {minutes} 分钟！", "Clock {minutes} min fast!"),
    "clock_slow": ("时钟慢 {minutes} 分钟！", "Clock {minutes} min slow!"),
    "rules_version": ("规则v{version}", "v{version}"),
    "data_old": ("名单/吊销/密钥 {hours} 小时未更新", "Roster, revocations, keys {hours} h old"),
    "data_never": ("未收到指挥部名单/密钥", "No roster or keys from the command yet"),
    "no_font": ("未找到中文字体，姓名可能显示为方框", "No Chinese font: names may show as boxes"),
    "on_duty": ("值班：{name}", "On duty: {name}"),
    "fever_status": ("发热 {n}：{state}", "Fever {n}: {state}"),
    "case_open": ("待跟进", "awaiting follow-up"),
    "case_not_called": ("未通知组长", "leader not called"),
    "case_taken_over": ("已接手", "taken over"),
    "case_clinic": ("已送发热门诊", "at the fever clinic"),
    "case_isolation": ("隔离中", "in isolation"),
    "case_hospital": ("已住院", "in hospital"),
    "case_cleared": ("已排除", "cleared"),
    # result
    "pass_big": ("通行", "PASS"),
    "stop_big": ("禁止", "STOP"),
    "call_leader": ("请立即联系组长", "Call the team leader now"),
    "call_leader_who": ("请立即联系组长：{who}", "Call the team leader now: {who}"),
    "tap_to_close": ("点击屏幕返回", "Tap to go back"),
    "acknowledge": ("已通知组长（记录）", "Team leader called: record it"),
    "acknowledge_who": ("已通知 {who}（记录）", "Called {who}: record it"),
    "acknowledged": ("已记录：{time} 已通知组长", "Recorded: team leader called at {time}"),
    "fever_ack_first": ("请先处理发热人员：通知组长后点黄色按钮",
                        "Fever first: call the team leader, then tap the yellow button"),
    "fever_big": ("发热 · 禁止通行", "FEVER · STOP"),
    "fever_readings": ("两次体温 {first}，复测 {second}", "Readings {first}, again {second}"),
    "fever_next_point": ("下一步：带至临时观察点（{point}），等组长",
                         "Next: take them to the observation point ({point})"),
    "fever_next_wait": ("下一步：请其原地等候，与他人隔开",
                        "Next: ask them to wait, apart from others"),
    "temperature": ("体温 {value}", "Temp {value}"),
    "visitor_for": ("访客 → {building}", "Visitor → {building}"),
    # visitor
    "visitor_title": ("访客 / 配送登记", "Visitor / delivery"),
    "v_name": ("姓名", "Name"),
    "v_phone": ("电话", "Phone"),
    "v_reason": ("事由", "Reason"),
    "v_host": ("去往楼栋", "Building"),
    "v_next": ("下一步\n测体温", "Next"),
    "v_need_name": ("请填写姓名", "A name is needed"),
    "v_need_title": ("请再点「先生」或「女士」", "Now tap Mr or Ms"),
    "v_need_surname": ("请先点姓，再点先生或女士", "Tap the surname first, then Mr or Ms"),
    "v_bad_phone": ("手机号应为 1 开头的 11 位数字", "A mobile number: 11 digits, starting with 1"),
    "v_need_phone": ("配送必须留电话，以便联系住户",
                     "Deliveries need a phone (to call the resident)"),
    "v_bad_building": ("本小区没有 {building} 号楼", "There is no building {building} here"),
    "v_hint_courier": ("点快递员的姓，记为「王师傅」", "Tap the courier's surname (王师傅)"),
    "v_hint_courier_phone": ("输入快递员手机号，姓名可不填",
                             "The courier's mobile number (no name needed)"),
    #: a courier who gave no surname, as recorded (the Chinese) and shown
    "v_courier": (COURIER_NAME, "Courier"),
    "v_hint_surnames": ("点姓，再点先生或女士，如「王先生」", "Tap the surname, then Mr or Ms"),
    "v_hint_letters": ("用拼音字母输入姓名", "Type the name in pinyin"),
    "v_hint_phone": ("手机号 11 位；快递、送菜必填", "Mobile, 11 digits: required for deliveries"),
    "v_hint_building": ("去往哪一栋楼（号码）", "The building number they go to"),
    "v_hint_reason": ("请点选事由", "Tap the reason"),
    "v_hint_recent": ("点最近来过的人：姓名、电话、事由一次填好",
                      "Tap someone who came lately: name, phone and reason in one tap"),
    "k_recent": ("最近", "Recent"),
    "building_n": ("{building}号楼", "Building {building}"),
    "k_mr": ("先生", "Mr 先生"),
    "k_ms": ("女士", "Ms 女士"),
    "k_letters": ("拼音 ABC", "ABC"),
    "k_surnames": ("姓氏", "姓氏"),
    "k_more": ("更多 {page}", "More {page}"),
    "k_space": ("空格", "Spc"),
    "r_delivery": ("快递外卖", "Delivery"),
    "r_groceries": ("送菜送药", "Groceries"),
    "r_repair": ("维修", "Repair"),
    "r_visit": ("探访", "Visit"),
    # who is out
    "out_title": ("外出未归（{count} 人，最早在前）", "Out now ({count}, oldest first)"),
    "out_since": ("{time} 出门，已 {hours}", "out since {time} ({hours})"),
    "minutes": ("{minutes} 分钟", "{minutes} min"),
    "hours_minutes": ("{hours} 小时 {minutes} 分", "{hours} h {minutes} min"),
    "nobody_out": ("没有外出未归的人", "Nobody is out"),
    # handover
    "handover_title": ("交班小结", "Shift handover"),
    "h_since": ("{name} 自 {time} 起", "{name} since {time}"),
    "h_in": ("进入", "In"),
    "h_out": ("外出", "Out"),
    "h_denied": ("拦下", "Stopped"),
    "h_fever": ("发热", "Fevers"),
    "h_visitors": ("访客", "Visitors"),
    "h_still_out": ("外出未归", "Still out"),
    "confirm_sign_out": ("确认交班", "Sign out now"),
    # admin
    "admin_title": ("管理设置", "Settings"),
    "a_checkpoint": ("卡口名称", "Checkpoint"),
    "a_direction": ("通行方向", "Direction"),
    "a_threshold": ("发热阈值 °C", "Fever threshold °C"),
    "a_offset": ("额温修正 °C", "Forehead offset °C"),
    "a_quota_outings": ("每户外出次数", "Outings per household"),
    "a_quota_days": ("统计天数", "Quota days"),
    "a_port": ("体温计串口", "Thermometer port"),
    "a_protocol": ("协议", "Protocol"),
    "a_baud": ("波特率", "Baud"),
    "a_camera": ("摄像头编号（-1 关闭）", "Camera index (-1 off)"),
    "a_sync": ("同步地址", "Sync URL"),
    "a_export": ("导出时间", "Export time"),
    "a_leader_name": ("组长称呼（发热时联系）", "Team leader (fevers)"),
    "a_leader_phone": ("组长电话（发热时拨打）", "Team leader's phone (fevers)"),
    "a_observation": ("临时观察点（发热者去处）", "Observation point (fevers)"),
    "a_language": ("语言", "Language"),
    "a_courier_surname": ("快递员是否问姓", "Ask the courier's surname"),
    "a_probe": ("探测体温计", "Find sensor"),
    "a_probing": ("正在探测（体温计暂停几秒）…", "Probing (the thermometer pauses)..."),
    "a_probe_found": ("找到：{protocol}，{baud}", "Found: {protocol} at {baud}"),
    "a_probe_none": ("串口 {port} 没有体温计应答：请检查接线和串口名",
                     "No thermometer answered on {port}: check the cable and the port"),
    "a_probe_failed": ("打不开串口 {port}：请检查串口名或拔插体温计",
                       "Cannot open {port}: check the port name or replug the thermometer"),
    "a_probe_no_port": ("请先填写体温计串口，如 /dev/ttyUSB0",
                        "Fill in the thermometer port first, e.g. /dev/ttyUSB0"),
    "a_save": ("保存", "Save"),
    "a_saving": ("正在保存…", "Saving..."),
    "a_saved": ("已保存", "Saved"),
    "a_saved_device_failed": ("已保存，但体温计或摄像头没有启动：请检查接线和设置",
                              "Saved, but the thermometer or camera did not start: check "
                              "the cables and settings"),
    "a_save_failed": ("保存失败（存储卡已满或损坏？），设置未改变",
                      "Could not save (memory card full or damaged?): nothing changed"),
    "a_exit": ("退出程序", "Exit kiosk"),
    "a_exit_ask": ("退出后本机不能登记，确定退出？", "The gate cannot record after this. Exit?"),
    "a_exit_yes": ("确定退出", "Exit now"),
    "a_exit_no": ("不退出", "Stay"),
    "a_invalid": ("「{field}」不对：{rule}", "{field}: {rule}"),
    "a_page": ("更多设置 {page}", "More {page}"),
    "a_editing": ("修改{field}：{value}", "{field}: {value}"),
    "a_edit_hint": ("点一个设置来修改", "Tap a setting to change it"),
    "a_rule_threshold": ("应在 35.0 到 40.0 之间，如 37.3", "between 35.0 and 40.0, e.g. 37.3"),
    "a_rule_offset": ("应在 -3.0 到 3.0 之间，如 0.5", "between -3.0 and 3.0, e.g. 0.5"),
    "a_rule_outings": ("应为 0 或更大的整数", "a whole number, 0 or more"),
    "a_rule_days": ("应为 1 或更大的整数", "a whole number, 1 or more"),
    "a_rule_whole": ("应为整数，如 9600", "a whole number, e.g. 9600"),
    "a_rule_camera": ("应为整数，-1 表示不用摄像头", "a whole number, -1 for no camera"),
    "a_rule_time": ("应为 24 小时制时间，如 22:00", "hours:minutes, e.g. 22:00"),
    "a_rule_phone": ("最多 40 位的电话号码", "a phone number, at most 40 characters"),
    "a_rule_any": ("请检查", "please check it"),
    "a_rule_text": ("最多 40 个字", "at most 40 characters"),
    "a_too_long": ("「{field}」最多 {max} 个字，这个字没有加上",
                   "{field}: at most {max} characters; that one was not added"),
    "k_done": ("完成", "Done"),
    "k_symbols": ("123 符号", "123 #"),
    "k_pinyin": ("拼音", "中文"),
    "k_more_page": ("更多\n{page}", "More\n{page}"),
    "k_shift": ("大写", "Shift"),
    "choice_both": ("双向", "both"),
    "choice_in": ("只进", "in only"),
    "choice_out": ("只出", "out only"),
    "choice_zh": ("中文", "中文 Chinese"),
    "choice_en": ("英文 English", "English"),
    "choice_skip": ("不问（记为快递员）", "not asked (Courier)"),
    "choice_ask": ("先问（如王师傅）", "asked first (王师傅)"),
    # pass kinds
    "kind_resident": ("居民", "Resident"),
    "kind_worker": ("必要岗位", "Essential worker"),
    "kind_supplier": ("保供配送", "Supplier"),
    "kind_staff": ("工作人员", "Staff"),
    "kind_visitor": ("访客", "Visitor"),
    "kind_unknown": ("未知", "Unknown"),
}


def tr(key: str, lang: str = "zh", **fields: object) -> str:
    """The text for ``key`` in ``lang``; a missing key shows itself (never a crash)."""
    pair = CATALOGUE.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "zh" else pair[1]
    return text.format(**fields) if fields else text


def reason_text(reason: Reason | str, lang: str = "zh") -> str:
    m = message(Reason(reason))
    return m.zh if lang == "zh" else m.en


def kind_text(kind: PassKind | str | None, lang: str = "zh") -> str:
    if not kind:
        return tr("kind_unknown", lang)
    return tr(f"kind_{PassKind(kind).value}", lang)


def place_text(place: str, kind: PassKind | str | None, lang: str = "zh") -> str:
    """Where a person belongs, as the screens say it: a resident's room as 3-1-402, a
    visitor's host building as 12号楼 / Building 12 (a bare "12" says nothing)."""
    if place and kind == PassKind.VISITOR.value:
        return tr("building_n", lang, building=place)
    return place


def name_text(name: str, kind: PassKind | str | None, lang: str = "zh") -> str:
    """A person's name as the screens say it: a courier recorded without a name keeps the
    Chinese word (快递员: what the export shows), said here in the volunteer's language."""
    if name == COURIER_NAME and kind == PassKind.VISITOR.value:
        return tr("v_courier", lang)
    return name


def other(lang: str) -> str:
    return "en" if lang == "zh" else "zh"
