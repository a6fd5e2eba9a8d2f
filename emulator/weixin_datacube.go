package emulator

import (
	"strconv"
	"time"
)

// datacubeAPIs answer POST /datacube/getweanalysisappid<name>: plausible,
// stable numbers for the requested dates, with WeChat's field names.
var datacubeAPIs = map[string]func(q datacubeQuery) map[string]any{
	"dailyretaininfo":   func(q datacubeQuery) map[string]any { return q.retain(q.begin, 0, 1, 2, 3, 4, 5, 6, 7, 14, 30) },
	"weeklyretaininfo":  func(q datacubeQuery) map[string]any { return q.retain(q.span(), 0, 1, 2, 3, 4) },
	"monthlyretaininfo": func(q datacubeQuery) map[string]any { return q.retain(q.begin[:6], 0, 1) },
	"dailysummarytrend": func(q datacubeQuery) map[string]any {
		return map[string]any{"list": []map[string]any{{
			"ref_date":    q.begin,
			"visit_total": q.n("visit_total", 100000),
			"share_pv":    q.n("share_pv", 1000),
			"share_uv":    q.n("share_uv", 600),
		}}}
	},
	"dailyvisittrend":   func(q datacubeQuery) map[string]any { return q.visitTrend(q.begin) },
	"weeklyvisittrend":  func(q datacubeQuery) map[string]any { return q.visitTrend(q.span()) },
	"monthlyvisittrend": func(q datacubeQuery) map[string]any { return q.visitTrend(q.begin[:6]) },
	"userportrait":      func(q datacubeQuery) map[string]any { return q.userPortrait() },
	"visitdistribution": func(q datacubeQuery) map[string]any { return q.visitDistribution() },
	"visitpage":         func(q datacubeQuery) map[string]any { return q.visitPage() },
}

// datacubeQuery is one datacube call: the app and its dates (yyyymmdd).
type datacubeQuery struct {
	appid, api, begin, end string
}

// datacube checks begin_date/end_date as WeChat does and answers with gen.
func (x *weixin) datacube(gen func(datacubeQuery) map[string]any) func(*wxCall) {
	return func(c *wxCall) {
		q := datacubeQuery{appid: c.appid, api: c.r.URL.Path, begin: c.str("begin_date"), end: c.str("end_date")}
		if q.begin == "" || q.end == "" {
			c.fail(47001, "data format error")
			return
		}
		b, err1 := time.Parse("20060102", q.begin)
		e, err2 := time.Parse("20060102", q.end)
		switch {
		case err1 != nil || err2 != nil:
			c.fail(61500, "date format error")
		case e.Before(b):
			c.fail(61501, "date range error")
		default:
			c.ok(gen(q))
		}
	}
}

// n is a stable number in [scale/2, scale*3/2) for what and the query.
func (q datacubeQuery) n(what string, scale uint64) uint64 {
	return scale/2 + digest(q.appid, q.api, q.begin, q.end, what)%scale
}

// f is n as a float with two decimals.
func (q datacubeQuery) f(what string, scale uint64) float64 {
	return float64(q.n(what, scale*100)) / 100
}

// span is a weekly ref_date: "20170306-20170312".
func (q datacubeQuery) span() string {
	if q.begin == q.end {
		return q.begin
	}
	return q.begin + "-" + q.end
}

func (q datacubeQuery) retain(refDate string, keys ...int) map[string]any {
	series := func(what string) []map[string]any {
		out := make([]map[string]any, len(keys))
		v := q.n(what, 10000)
		for i, k := range keys {
			out[i] = map[string]any{"key": k, "value": v}
			v = v * (40 + q.n(what+strconv.Itoa(k), 20)) / 100
		}
		return out
	}
	return map[string]any{"ref_date": refDate, "visit_uv_new": series("new"), "visit_uv": series("active")}
}

func (q datacubeQuery) visitTrend(refDate string) map[string]any {
	return map[string]any{"list": []map[string]any{{
		"ref_date":          refDate,
		"session_cnt":       q.n("session_cnt", 140000),
		"visit_pv":          q.n("visit_pv", 800000),
		"visit_uv":          q.n("visit_uv", 50000),
		"visit_uv_new":      q.n("visit_uv_new", 5000),
		"stay_time_uv":      q.f("stay_time_uv", 200),
		"stay_time_session": q.f("stay_time_session", 30),
		"visit_depth":       q.f("visit_depth", 5),
	}}}
}

// userPortrait has both WeChat's "value" and the seed's
// "access_source_visit_uv" on each item.
func (q datacubeQuery) userPortrait() map[string]any {
	items := func(who, dim string, names ...string) []map[string]any {
		out := make([]map[string]any, len(names))
		for i, name := range names {
			v := q.n(who+dim+name, 2000)
			out[i] = map[string]any{"id": i + 1, "name": name, "value": v, "access_source_visit_uv": v}
		}
		return out
	}
	portrait := func(who string) map[string]any {
		return map[string]any{
			"index":     0,
			"province":  items(who, "province", "广东省", "浙江省", "北京"),
			"city":      items(who, "city", "广州市", "杭州市", "北京市"),
			"genders":   items(who, "genders", "男", "女", "未知"),
			"platforms": items(who, "platforms", "iPhone", "Android", "其他"),
			"devices":   items(who, "devices", "苹果 iPhone 15", "OPPO R9", "华为 Mate 60"),
			"ages":      items(who, "ages", "17岁以下", "18-24岁", "25-29岁", "30-39岁", "40-49岁", "50岁以上", "未知"),
		}
	}
	return map[string]any{"ref_date": q.span(), "visit_uv_new": portrait("new"), "visit_uv": portrait("active")}
}

func (q datacubeQuery) visitDistribution() map[string]any {
	dist := func(index string, keys ...int) map[string]any {
		items := make([]map[string]any, len(keys))
		for i, k := range keys {
			it := map[string]any{"key": k, "value": q.n(index+strconv.Itoa(k), 1000)}
			if index == "access_source_session_cnt" {
				it["access_source_visit_uv"] = q.n(index+"uv"+strconv.Itoa(k), 500)
			}
			items[i] = it
		}
		return map[string]any{"index": index, "item_list": items}
	}
	return map[string]any{"ref_date": q.begin, "list": []map[string]any{
		dist("access_source_session_cnt", 1, 2, 3, 4, 10),
		dist("access_staytime_info", 1, 2, 3, 4, 5, 6, 7, 8),
		dist("access_depth_info", 1, 2, 3, 4, 5, 6, 7),
	}}
}

func (q datacubeQuery) visitPage() map[string]any {
	pages := []string{"pages/index/index", "pages/goods/detail", "pages/cart/cart", "pages/user/user"}
	list := make([]map[string]any, len(pages))
	pv := q.n("pv", 200000)
	for i, p := range pages {
		list[i] = map[string]any{
			"page_path":        p,
			"page_visit_pv":    pv,
			"page_visit_uv":    pv / 4,
			"page_staytime_pv": q.f(p+"stay", 10),
			"entrypage_pv":     pv / 2,
			"exitpage_pv":      pv / 3,
			"page_share_pv":    q.n(p+"share_pv", 200),
			"page_share_uv":    q.n(p+"share_uv", 150),
		}
		pv = pv * 6 / 10
	}
	return map[string]any{"ref_date": q.begin, "list": list}
}
