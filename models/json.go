package models

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// StringList is a JSON array of strings stored as jsonb on PostgreSQL and
// text on SQLite, so one model serves both databases.
type StringList []string

// Value encodes the list as a JSON array; nil becomes [].
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan decodes a JSON array from []byte or string.
func (l *StringList) Scan(src any) error {
	b, err := jsonBytes(src)
	if err != nil || b == nil {
		*l = nil
		return err
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("scan string list: %w", err)
	}
	*l = out
	return nil
}

// Contains reports whether s is in the list.
func (l StringList) Contains(s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// GormDataType tells GORM the generic type.
func (StringList) GormDataType() string { return "json" }

// GormDBDataType picks jsonb on PostgreSQL and text elsewhere.
func (StringList) GormDBDataType(db *gorm.DB, _ *schema.Field) string { return jsonColumn(db) }

// JSONObject is a JSON object column (audit log data).
type JSONObject map[string]any

// Value encodes the object; nil becomes {}.
func (o JSONObject) Value() (driver.Value, error) {
	if o == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(o))
	return string(b), err
}

// Scan decodes a JSON object from []byte or string.
func (o *JSONObject) Scan(src any) error {
	b, err := jsonBytes(src)
	if err != nil || b == nil {
		*o = nil
		return err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("scan json object: %w", err)
	}
	*o = out
	return nil
}

// GormDataType tells GORM the generic type.
func (JSONObject) GormDataType() string { return "json" }

// GormDBDataType picks jsonb on PostgreSQL and text elsewhere.
func (JSONObject) GormDBDataType(db *gorm.DB, _ *schema.Field) string { return jsonColumn(db) }

func jsonColumn(db *gorm.DB) string {
	if db.Dialector.Name() == "postgres" {
		return "jsonb"
	}
	return "text"
}

func jsonBytes(src any) ([]byte, error) {
	switch v := src.(type) {
	case nil:
		return nil, nil
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	default:
		return nil, fmt.Errorf("scan json: unsupported type %T", src)
	}
}
