"""FHIR R4 (mCODE STU4, Physical Activity IG) -> the contract's `RecommendRequest`, in one place.

The rule of the mapping: a fact the FHIR record lacks is unknown, never invented. A required
contract field (age, sex, height, weight, cancer type, stage, treatment phase, ECOG) that cannot be
read makes the record *insufficient*: no recommendation is made and the card names what is
missing. Optional facts that are missing stay empty (the kernel treats them as unknown; SAFETY.md).
Contract defaults that no FHIR resource carries are kept at their conservative value
(`medical_clearance` false, `resistance_experience` "none"). The current prescription and the
progression reference are not read here: `serving.cds.current` reads them from the EHR's active
exercise orders (prefetch `orders`) and the routes add them to the request.

Every resource is parsed with the fhir.resources R4B model of its type first; a resource that does
not validate is ignored and counted. Values are then read from the validated JSON.

What is read (newest value on or before `as_of`, statuses other than entered-in-error/cancelled):

Field by field (contract field: FHIR source):
- age, sex: Patient.birthDate (age at `as_of`), Patient.gender (other values -> "unknown").
- cancer_type: the newest active Condition with the mCODE primary-cancer profile, an ICD-10
  C00-C76/C80-C96 code or a listed SNOMED code (`CANCER_ICD10`, `CANCER_SNOMED`).
- metastatic_sites: active mCODE secondary-cancer Conditions (or ICD-10 C77-C79): bodySite SNOMED
  (`SITE_SNOMED`), the diagnosis code (`SITE_OF_SECONDARY_SNOMED`, `SITE_ICD10`).
- comorbidities: the other active Conditions by ICD-10 prefix (`COMORBIDITY_ICD10`).
- stage: the newest LOINC 21908-9 (clinical) or 21902-2 (pathological) stage group; I-IV read
  from the code or the text (IIIB -> III).
- ecog: LOINC 89247-1, an integer or the LOINC answers LA9622-7..LA9626-8 (0-4).
- labs: 777-3 platelets and 751-8 ANC (10*3/uL = 10^9/L), 718-7 haemoglobin (g/dL; g/L and
  mmol/L converted).
- vitals: 8867-4 heart rate, 8480-6 / 8462-4 blood pressure (also as components of the panel
  85354-9), 59408-5 SpO2, 8310-5 temperature (degF converted).
- height_cm, weight_kg: 8302-2 (cm, m, in), 29463-7 (kg, g, lb).
- symptoms.pain: LOINC 72514-3 (0-10 numeric rating), only a score of the last 7 days (the kernel
  reads it as today's). symptoms.fatigue: only from a site's own code (`site_codes`, from
  Settings.cds_symptom_codes; there is no standard LOINC 0-10 fatigue score), else unknown and
  the kernel gives the symptomatic-day band (kernel 2026.12.3). A site's pain code counts beside
  72514-3: per symptom the newest score of any of its codes.
- days_since_infusion: the newest completed MedicationAdministration (every administration in
  `medications` counts as a cancer infusion).
- next_infusion_in_days: the soonest Appointment still to come (proposed, pending, booked,
  arrived, checked-in, waitlist) coded SNOMED 367336001 "Chemotherapy" or 385786002
  "Chemotherapy care" (serviceType, appointmentType, serviceCategory or reasonCode), or a site's
  own code (`infusion_codes`, from Settings.cds_infusion_codes); the soonest is the strictest
  reading. Without one it stays unknown (the kernel: the infusion day).
- recent_surgery_days: the newest completed surgical Procedure (mCODE cancer-related surgical
  procedure profile, or category 387713003).
- treatment_phase: chemotherapy with an infusion within `ACTIVE_TREATMENT_DAYS`; else
  radiotherapy with a radiotherapy Procedure (mCODE radiotherapy course summary, SNOMED
  108290001 / 1217123003) in that window; else post_treatment after any infusion, radiotherapy or
  cancer surgery; else "none" when both `medications` and `procedures` came back; else unknown.
- sessions: activity Observations 73985-4 (exercise activity) with duration 55411-3, mean heart
  rate 55425-3 and perceived exertion 82289-0 as components, or as the `hasMember`
  observations of a PA IG activity panel (`PAPanel`).

Sessions: the PA IG records what was done, not what was planned, so a session's planned minutes
are its recorded duration (and it counts as attended and completed). An activity whose type is
resistance training (`is_resistance`) is a resistance session; everything else is aerobic.

Perceived exertion: a value on the Borg CR10 scale (0-10; the default for 82289-0, or a unit
naming CR10) is converted to Borg 6-20 by `BORG_CR10_TO_RPE` (the usual correspondence of the two
Borg scales, e.g. Borg 1998 and ACSM GETP: CR10 3 "moderate" ~ RPE 12-13, CR10 5 "hard" ~ RPE
14-15); a value whose unit names the 6-20 scale, or above 10, is taken as Borg 6-20.

The code tables named above live in `code_tables`; `patient` (Patient, Conditions),
`observations` (clinical values and activity sessions) and `treatment` (medications,
procedures) read the resources, `readers` has the small JSON readers, `result` the `Mapped`
result and its builder, and `record` puts them together (`map_record`).
"""

from serving.cds.fhir_map.code_tables import LOINC, REQUIRED_FIELDS, SNOMED
from serving.cds.fhir_map.observations import borg_rpe, is_resistance
from serving.cds.fhir_map.patient import resolve_age
from serving.cds.fhir_map.record import map_record
from serving.cds.fhir_map.result import Fact, Mapped

__all__ = [
    "LOINC",
    "REQUIRED_FIELDS",
    "SNOMED",
    "Fact",
    "Mapped",
    "borg_rpe",
    "is_resistance",
    "map_record",
    "resolve_age",
]
