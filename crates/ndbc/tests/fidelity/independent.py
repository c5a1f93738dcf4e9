"""Independent reading of an NDBC sample file, printed as JSON for tests/siphon_fidelity.rs.

Usage: python3 independent.py PRODUCT FILE [PRODUCT FILE ...]

For the products Unidata siphon reads (txt spec ocean cwind dart supl srad rain drift, and
latest_obs) this calls siphon's own parsers (siphon.simplewebservice.ndbc.NDBC) on the file
content, offline, and renames its columns to buoycast's JSON field names. For the spectral files
(data_spec swdir swdir2 swr1 swr2), adcp and dmv, which siphon does not read, it uses the plain
whitespace-split reader below with the fill rules of NDBC's format page (measdes.shtml).

Output: a JSON object mapping each FILE to a list with one object per row: {"time": "YYYY-MM-DDTHH:MM:SS", "fields": {...}}
(latest_obs rows also carry "station", "latitude", "longitude"). Times of day given as hhmm
(gustTime, lowestPressureTime, highestWindTime) are siphon's: the row's date with that hh:mm.
"""

import json
import math
import sys


def num(v):
    """A number, or None for NaN / missing / non-numeric (e.g. '//')."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def text(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def stamp(t):
    """A pandas Timestamp as naive ISO 8601 with seconds, or None for NaT."""
    try:
        import pandas as pd
        if t is None or pd.isna(t):
            return None
    except ImportError:
        pass
    return t.strftime("%Y-%m-%dT%H:%M:%S")


def siphon_rows(product, content):
    from siphon.simplewebservice.ndbc import NDBC

    def records(df, mapping):
        out = []
        for r in df.to_dict("records"):
            fields = {}
            for ours, (theirs, conv) in mapping.items():
                fields[ours] = conv(r[theirs])
            out.append({"time": stamp(r["time"]), "fields": fields})
        return out

    if product == "txt":
        m = {
            "windDirDeg": ("wind_direction", num),
            "windSpeedMps": ("wind_speed", num),
            "gustMps": ("wind_gust", num),
            "waveHeightM": ("wave_height", num),
            "dominantWavePeriodS": ("dominant_wave_period", num),
            "averageWavePeriodS": ("average_wave_period", num),
            "meanWaveDirDeg": ("dominant_wave_direction", num),
            "pressureHpa": ("pressure", num),
            "airTempC": ("air_temperature", num),
            "waterTempC": ("water_temperature", num),
            "dewPointC": ("dewpoint", num),
            "visibilityNmi": ("visibility", num),
            "pressureTendencyHpa": ("3hr_pressure_tendency", num),
            "tideFt": ("water_level_above_mean", num),
        }
        return records(NDBC._parse_met(content), m)
    if product == "spec":
        m = {
            "significantWaveHeightM": ("significant_wave_height", num),
            "swellHeightM": ("swell_height", num),
            "swellPeriodS": ("swell_period", num),
            "windWaveHeightM": ("wind_wave_height", num),
            "windWavePeriodS": ("wind_wave_period", num),
            "swellDir": ("swell_direction", text),
            "windWaveDir": ("wind_wave_direction", text),
            "steepness": ("steepness", text),
            "averageWavePeriodS": ("average_wave_period", num),
            "meanWaveDirDeg": ("dominant_wave_direction", num),
        }
        return records(NDBC._parse_spec(content), m)
    if product == "ocean":
        m = {
            "depthM": ("measurement_depth", num),
            "oceanTempC": ("ocean_temperature", num),
            "conductivityMsPerCm": ("conductivity", num),
            "salinityPsu": ("salinity", num),
            "oxygenPercent": ("oxygen_concentration", num),
            "oxygenPpm": ("oxygen_concentration_ppm", num),
            "chlorophyllUgPerL": ("chlorophyll_concentration", num),
            "turbidityFtu": ("turbidity", num),
            "ph": ("pH", num),
            "redoxMv": ("Eh", num),
        }
        return records(NDBC._parse_ocean(content), m)
    if product == "cwind":
        m = {
            "windDirDeg": ("wind_direction", num),
            "windSpeedMps": ("wind_speed", num),
            "gustDirDeg": ("gust_direction", num),
            "gustSpeedMps": ("wind_gust", num),
            "gustTime": ("gust_time", stamp),
        }
        return records(NDBC._parse_cwind(content), m)
    if product == "dart":
        # siphon rewrites the type code as minutes: 1 -> 15, 2 -> 1, 3 -> 0.25; undo that.
        back = {15.0: 1, 1.0: 2, 0.25: 3}
        m = {
            "measurementType": ("measurement_type", lambda v: back.get(num(v))),
            "waterColumnHeightM": ("height", num),
        }
        return records(NDBC._parse_dart(content), m)
    if product == "supl":
        m = {
            "lowestPressureHpa": ("hourly_low_pressure", num),
            "lowestPressureTime": ("hourly_low_pressure_time", stamp),
            "highestWindSpeedMps": ("hourly_high_wind", num),
            "highestWindDirDeg": ("hourly_high_wind_direction", num),
            "highestWindTime": ("hourly_high_wind_time", stamp),
        }
        return records(NDBC._parse_supl(content), m)
    if product == "srad":
        m = {
            "shortwaveLicorWm2": ("shortwave_radiation_licor", num),
            "shortwaveEppleyWm2": ("shortwave_radiation_eppley", num),
            "longwaveWm2": ("longwave_radiation", num),
        }
        return records(NDBC._parse_srad(content), m)
    if product == "rain":
        return records(NDBC._parse_rain(content), {"accumulationMm": ("hourly_accumulation", num)})
    if product == "drift":
        m = {
            "latitude": ("latitude", num),
            "longitude": ("longitude", num),
            "windDirDeg": ("wind_direction", num),
            "windSpeedMps": ("wind_speed", num),
            "gustMps": ("wind_gust", num),
            "pressureHpa": ("pressure", num),
            "pressureTendencyHpa": ("3hr_pressure_tendency", num),
            "airTempC": ("air_temperature", num),
            "waterTempC": ("water_temperature", num),
        }
        return records(NDBC._parse_drift(content), m)
    if product == "latest_obs":
        class Resp:
            text = content

        # latest_observations() fetches the file; hand it this file's content instead.
        NDBC.get_path = lambda self, path, *a, **k: Resp()
        df = NDBC.latest_observations()
        m = {
            "windDirDeg": "wind_direction",
            "windSpeedMps": "wind_speed",
            "gustMps": "wind_gust",
            "waveHeightM": "wave_height",
            "dominantWavePeriodS": "dominant_wave_period",
            "averageWavePeriodS": "average_wave_period",
            "meanWaveDirDeg": "dominant_wave_direction",
            "pressureHpa": "pressure",
            "airTempC": "air_temperature",
            "waterTempC": "water_temperature",
            "dewPointC": "dewpoint",
            "visibilityNmi": "visibility",
            "pressureTendencyHpa": "3hr_pressure_tendency",
            "tideFt": "water_level_above_mean",
        }
        out = []
        for r in df.to_dict("records"):
            out.append({
                "time": stamp(r["time"]),
                "station": str(r["station"]),
                "latitude": num(r["latitude"]),
                "longitude": num(r["longitude"]),
                "fields": {k: num(r[v]) for k, v in m.items()},
            })
        return out
    return None


# Fill values of NDBC's format page for the products siphon does not read.
SPECTRAL = {
    "data_spec": ("energyDensityM2PerHz", None),
    "swdir": ("meanDirDeg", 999.0),
    "swdir2": ("principalDirDeg", 999.0),
    "swr1": ("r1", 999.0),
    "swr2": ("r2", 999.0),
}
SEP_FREQ_FILL = 9.999


def value(tok, fill=None):
    if tok == "MM":
        return None
    v = float(tok)
    return None if fill is not None and v == fill else v


def plain_rows(product, content):
    lines = content.splitlines()
    header = lines[0].lstrip("#").split()
    out = []
    for line in lines[1:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        t = line.split()
        time = "%04d-%02d-%02dT%02d:%02d:00" % tuple(int(x) for x in t[:5])
        rest = t[5:]
        if product in SPECTRAL:
            name, fill = SPECTRAL[product]
            fields = {"separationFreqHz": None}
            if product == "data_spec":
                fields["separationFreqHz"] = value(rest[0], SEP_FREQ_FILL)
                rest = rest[1:]
            fields["frequenciesHz"] = [float(f.strip("()")) for f in rest[1::2]]
            for other, _ in SPECTRAL.values():
                fields[other] = None
            fields[name] = [value(v, fill) for v in rest[0::2]]
        elif product == "adcp":
            bins = []
            for i in range(0, len(rest), 3):
                d, di, s = (rest[i:i + 3] + ["MM", "MM", "MM"])[:3]
                bins.append({"depthM": value(d), "dirDeg": value(di), "speedCmPerS": value(s)})
            fields = {"bins": bins}
        elif product == "dmv":
            names = {
                "CHILL": "windChillC",
                "HEAT": "heatIndexC",
                "ICE": "iceAccretionCmPerHr",
                "WSPD10": "windSpeed10mMps",
                "WSPD20": "windSpeed20mMps",
            }
            fields = {v: None for v in names.values()}
            for col, tok in zip(header[5:], rest):
                if col in names:
                    fields[names[col]] = value(tok)
        else:
            raise SystemExit("unknown product " + product)
        out.append({"time": time, "fields": fields})
    return out


def main():
    args = sys.argv[1:]
    out = {}
    for product, path in zip(args[0::2], args[1::2]):
        with open(path, encoding="ascii") as f:
            content = f.read()
        rows = siphon_rows(product, content)
        if rows is None:
            rows = plain_rows(product, content)
        out[path] = rows
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
